// Data-plane roles, least privilege, per identity:
// - the edge: writes originals (Blob Data Contributor), puts envelopes on the inbound queue (Queue Data Contributor:
//   the adapter makes sure the queue exists) or sends them to Service Bus (Data Sender), reads and writes the
//   directory, rate limits and greylisting state (Table Data Contributor), reads its certificate from Key Vault
//   (Secrets User) and pulls its image (AcrPull);
// - the Functions app: the host keeps leases and its deployment package in blobs, which needs Blob Data Owner;
//   Queue and Table Data Contributor; Service Bus Data Receiver and Sender; Key Vault Secrets User (the smart
//   host's password, a Key Vault reference);
// - the deploying user (optional): the storage roles for the `mail` admin commands in cloud mode, and Key Vault
//   Certificates Officer to import or renew the certificate.
param storageAccountName string
param registryName string
param keyVaultName string
param serviceBusName string = ''
param edgePrincipalId string
param functionsPrincipalId string
param userPrincipalId string = ''

@allowed([ 'User', 'Group', 'ServicePrincipal' ])
param userPrincipalType string = 'User'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: registryName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = if (!empty(serviceBusName)) {
  name: empty(serviceBusName) ? 'none' : serviceBusName
}

var storageGrants = [
  { principalId: edgePrincipalId, type: 'ServicePrincipal', role: roles.storageBlobDataContributor }
  { principalId: edgePrincipalId, type: 'ServicePrincipal', role: roles.storageQueueDataContributor }
  { principalId: edgePrincipalId, type: 'ServicePrincipal', role: roles.storageTableDataContributor }
  { principalId: functionsPrincipalId, type: 'ServicePrincipal', role: roles.storageBlobDataOwner }
  { principalId: functionsPrincipalId, type: 'ServicePrincipal', role: roles.storageQueueDataContributor }
  { principalId: functionsPrincipalId, type: 'ServicePrincipal', role: roles.storageTableDataContributor }
]
var userStorageGrants = empty(userPrincipalId) ? [] : [
  { principalId: userPrincipalId, type: userPrincipalType, role: roles.storageBlobDataContributor }
  { principalId: userPrincipalId, type: userPrincipalType, role: roles.storageQueueDataContributor }
  { principalId: userPrincipalId, type: userPrincipalType, role: roles.storageTableDataContributor }
]

resource storage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in concat(storageGrants, userStorageGrants): {
  name: guid(account.id, g.principalId, g.role)
  scope: account
  properties: {
    principalId: g.principalId
    principalType: g.type
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', g.role)
  }
}]

resource edgeAcr 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, edgePrincipalId, roles.acrPull)
  scope: registry
  properties: {
    principalId: edgePrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
  }
}

resource edgeVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, edgePrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: edgePrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// The Functions app reads the smart host's password through a Key Vault reference.
resource functionsVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionsPrincipalId, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: functionsPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource userVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(vault.id, userPrincipalId, roles.keyVaultCertificatesOfficer)
  scope: vault
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCertificatesOfficer)
  }
}

var serviceBusGrants = empty(serviceBusName) ? [] : [
  { principalId: edgePrincipalId, role: roles.serviceBusDataSender }
  { principalId: functionsPrincipalId, role: roles.serviceBusDataSender }
  { principalId: functionsPrincipalId, role: roles.serviceBusDataReceiver }
]

resource bus 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for g in serviceBusGrants: {
  name: guid(serviceBus.id, g.principalId, g.role)
  scope: serviceBus
  properties: {
    principalId: g.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', g.role)
  }
}]
