// One storage account: raw messages (blob), the pipeline queues, mailbox/state/poison tables, and the Functions
// deployment container. Shared keys are disabled: everything authenticates with the managed identity.
param name string
param location string
param tags object

@description('Days after which an original still in the messages container is deleted by the lifecycle rule. The pipeline deletes each original once every recipient is final; this is the safety net, so it must outlast the longest legitimate wait: the outbound queue lifetime (Outbound:MaximalQueueLifetime, 5 days) and the quarantine retention (Functions:QuarantineRetention, 30 days), plus a margin.')
@minValue(36)
param originalsRetentionDays int = 45

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Messages are immutable once committed; soft delete guards against an operator's mistake.
    deleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource messages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'messages'
  properties: { publicAccess: 'None' }
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'app-package'
  properties: { publicAccess: 'None' }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for q in [ 'inbound', 'outbound', 'inbound-poison', 'outbound-poison' ]: {
  parent: queueService
  name: q
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [for t in [ 'mailboxes', 'state', 'poison' ]: {
  parent: tableService
  name: t
}]

// The safety net behind the pipeline's own deletes (a delete that failed, a crash between delivery and delete).
// Originals are named by their queue id, a ULID: 26 characters starting with the millisecond time, so with '0' until
// the year 3084; delivered copies start with 'dlv-' and are never matched. Forwarded copies ('<queue id>-fwd') are
// originals of the outbound queue and share the rule.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'originals-safety-net'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [ 'blockBlob' ]
              prefixMatch: [ '${messages.name}/0' ]
            }
            actions: {
              baseBlob: {
                delete: { daysAfterModificationGreaterThan: originalsRetentionDays }
              }
            }
          }
        }
      ]
    }
  }
}

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
output deploymentContainerName string = deployments.name
