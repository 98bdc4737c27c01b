// The SMTP edge: a container app with external TCP ingress on 25 (MX), 587 (submission) and 465 (submissions).
// External TCP ingress needs an environment on a custom virtual network, hence the VNet.
param environmentName string
param appName string
param registryName string
param vnetName string
param location string
param tags object
param identityId string
param identityClientId string
param logAnalyticsWorkspaceId string
param appInsightsConnectionString string
param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param mailHostName string

@description('Edge replicas kept running (SMTP must always answer).')
param minReplicas int = 1
param maxReplicas int = 3

resource vnet 'Microsoft.Network/virtualNetworks@2024-01-01' = {
  name: vnetName
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [ '10.40.0.0/16' ] }
    subnets: [
      {
        name: 'container-apps'
        properties: {
          addressPrefix: '10.40.0.0/23'
          delegations: [
            { name: 'apps', properties: { serviceName: 'Microsoft.App/environments' } }
          ]
        }
      }
    ]
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: registryName
  location: location
  tags: tags
  sku: { name: 'Basic' }
  properties: {
    adminUserEnabled: false
  }
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: reference(logAnalyticsWorkspaceId, '2023-09-01').customerId
        sharedKey: listKeys(logAnalyticsWorkspaceId, '2023-09-01').primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: vnet.properties.subnets[0].id
      internal: false
    }
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
    ]
  }
}

resource edge 'Microsoft.App/containerApps@2024-03-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'edge' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      registries: [
        { server: registry.properties.loginServer, identity: identityId }
      ]
      ingress: {
        external: true
        transport: 'tcp'
        // The container listens on high ports (it runs as non-root); ingress maps the SMTP ports onto them.
        targetPort: 2525
        exposedPort: 25
        additionalPortMappings: [
          { external: true, targetPort: 5587, exposedPort: 587 }
          { external: true, targetPort: 5465, exposedPort: 465 }
        ]
      }
    }
    template: {
      containers: [
        {
          name: 'edge'
          // azd replaces this with the image it builds from edge/Dockerfile.
          image: 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
          resources: { cpu: json('0.5'), memory: '1Gi' }
          env: [
            { name: 'MAIL_Mode', value: 'cloud' }
            { name: 'MAIL_Smtp__HostName', value: mailHostName }
            { name: 'MAIL_Azure__BlobServiceUri', value: blobEndpoint }
            { name: 'MAIL_Azure__QueueServiceUri', value: queueEndpoint }
            { name: 'MAIL_Azure__TableServiceUri', value: tableEndpoint }
            { name: 'MAIL_Azure__ManagedIdentityClientId', value: identityClientId }
            { name: 'MAIL_Azure__QueueTransport', value: 'StorageQueue' }
            { name: 'AZURE_CLIENT_ID', value: identityClientId }
            { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          { name: 'connections', tcp: { metadata: { concurrentConnections: '200' } } }
        ]
      }
    }
  }
}

output registryName string = registry.name
output registryLoginServer string = registry.properties.loginServer
output fqdn string = edge.properties.configuration.ingress.fqdn
