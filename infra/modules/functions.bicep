// The pipeline: a Flex Consumption function app (.NET isolated), identity-based connections only.
param planName string
param appName string
param location string
param tags object
param runtimeVersion string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param appInsightsConnectionString string

@allowed([ 'StorageQueue', 'ServiceBus' ])
param queueTransport string = 'StorageQueue'

@description('Fully qualified Service Bus namespace when queueTransport is ServiceBus.')
param serviceBusNamespace string = ''

@description('Outbound:RelayHost, the smart host ([host]:port); empty: delivery by MX, which Azure blocks on port 25.')
param relayHost string = ''

@description('Outbound:RelayUser; its password is the Key Vault secret "relay-password", read through a Key Vault reference.')
param relayUser string = ''

param keyVaultName string

@description('Most instances the pipeline may scale out to.')
param maximumInstanceCount int = 40

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (the relay password) are resolved with this identity.
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: {
        name: 'dotnet-isolated'
        version: runtimeVersion
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: concat([
        // The host's own storage, by identity.
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        // The trigger connection "MailStorage" (QueueNames.Connection), by identity.
        { name: 'MailStorage__queueServiceUri', value: queueEndpoint }
        { name: 'MailStorage__credential', value: 'managedidentity' }
        { name: 'MailStorage__clientId', value: identityClientId }
        // The adapters (AzureStorageOptions, section "Azure").
        { name: 'Azure__BlobServiceUri', value: blobEndpoint }
        { name: 'Azure__QueueServiceUri', value: queueEndpoint }
        { name: 'Azure__TableServiceUri', value: tableEndpoint }
        { name: 'Azure__ManagedIdentityClientId', value: identityClientId }
        { name: 'Azure__QueueTransport', value: queueTransport }
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
      ], empty(serviceBusNamespace) ? [] : [ { name: 'Azure__ServiceBusNamespace', value: serviceBusNamespace } ],
      empty(relayHost) ? [] : [ { name: 'Outbound__RelayHost', value: relayHost } ],
      empty(relayUser) ? [] : [
        { name: 'Outbound__RelayUser', value: relayUser }
        { name: 'Outbound__RelayPassword', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=relay-password)' }
      ])
    }
  }
}

output name string = app.name
