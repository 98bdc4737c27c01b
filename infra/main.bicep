// Cloud mode of the mail system (azd): storage for messages, queues, mailboxes and state; the Functions app running
// the pipeline; the SMTP edge as a container app with TCP ingress; monitoring; one user-assigned managed identity
// with data-plane roles (no keys or connection strings in app settings).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; used to name the resource group and derive resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources.')
param location string

@description('Object id of the deploying user, given data access to storage for local tools (optional).')
param principalId string = ''

@description('Host name the edge announces in its SMTP greeting and Received: headers.')
param mailHostName string = 'mail.example.org'

@description('Functions runtime version (.NET isolated worker).')
param functionsRuntimeVersion string = '10.0'

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-mail-${token}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-mail-${token}'
    appInsightsName: 'appi-mail-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stmail${token}'
    location: location
    tags: tags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    registryName: edge.outputs.registryName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
  }
}

module functions 'modules/functions.bicep' = {
  name: 'functions'
  scope: rg
  params: {
    planName: 'plan-mail-${token}'
    appName: 'func-mail-${token}'
    location: location
    tags: tags
    runtimeVersion: functionsRuntimeVersion
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
  }
  dependsOn: [ roles ]
}

module edge 'modules/edge.bicep' = {
  name: 'edge'
  scope: rg
  params: {
    environmentName: 'cae-mail-${token}'
    appName: 'ca-edge-${token}'
    registryName: 'crmail${token}'
    vnetName: 'vnet-mail-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    mailHostName: mailHostName
  }
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = edge.outputs.registryLoginServer
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output EDGE_FQDN string = edge.outputs.fqdn
output FUNCTIONS_APP_NAME string = functions.outputs.name
