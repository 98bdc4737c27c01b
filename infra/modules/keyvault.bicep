// The Key Vault that holds the edge's TLS certificate (import it, or let Key Vault renew it from an issuer). RBAC
// only, no access policies: the edge's identity reads the certificate's secret (Tls:KeyVaultCertificate).
param name string
param location string
param tags object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
