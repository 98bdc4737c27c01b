// The SMTP edge and IMAP gateway (edge/Mail.Host, Mode=cloud) as Azure Container Instances: one container group
// with its own public IP per MX host. ACI hands the client's TCP connection to the container unchanged, so the edge
// sees the client's real address (SPF, DNSBLs, rate limits, Received:, "submission only after TLS" rules), which
// Container Apps' TCP ingress does not pass on (microsoft/azure-container-apps#899). azd's postdeploy hook
// (infra/hooks/edge-image.sh) builds the image into the registry, then provisions again with that image.
param registryLoginServer string
param groupNamePrefix string
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
param authServId string
param queueTransport string
param serviceBusNamespace string
param keyVaultCertificateId string
param defences object

@description('The image to run, e.g. crmailxyz.azurecr.io/mail-edge:abc123. Empty: no container group yet (the first provision, before the hook has built the image).')
param image string

@description('Container groups (MX hosts), each with its own public IP and DNS label.')
@minValue(1)
@maxValue(5)
param instances int = 1

param cpuCores int = 1
param memoryInGb int = 1

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: last(split(logAnalyticsWorkspaceId, '/'))
}

// Listeners on all addresses and on the standard ports (the image lets the non-root user bind ports below 1024);
// PROXY protocol off: nothing stands between the client and the container.
var listeners = [
  { name: 'MAIL_Smtp__Listeners__0__Name', value: 'mx' }
  { name: 'MAIL_Smtp__Listeners__0__Endpoint', value: '0.0.0.0:25' }
  { name: 'MAIL_Smtp__Listeners__0__Role', value: 'Mx' }
  { name: 'MAIL_Smtp__Listeners__1__Name', value: 'submission' }
  { name: 'MAIL_Smtp__Listeners__1__Endpoint', value: '0.0.0.0:587' }
  { name: 'MAIL_Smtp__Listeners__1__Role', value: 'Submission' }
  { name: 'MAIL_Smtp__Listeners__2__Name', value: 'submissions' }
  { name: 'MAIL_Smtp__Listeners__2__Endpoint', value: '0.0.0.0:465' }
  { name: 'MAIL_Smtp__Listeners__2__Role', value: 'Submission' }
  { name: 'MAIL_Smtp__Listeners__2__ImplicitTls', value: 'true' }
  { name: 'MAIL_Imap__Listeners__0__Name', value: 'imap' }
  { name: 'MAIL_Imap__Listeners__0__Endpoint', value: '0.0.0.0:143' }
  { name: 'MAIL_Imap__Listeners__1__Name', value: 'imaps' }
  { name: 'MAIL_Imap__Listeners__1__Endpoint', value: '0.0.0.0:993' }
  { name: 'MAIL_Imap__Listeners__1__ImplicitTls', value: 'true' }
]
var settings = [
  { name: 'MAIL_Mode', value: 'cloud' }
  { name: 'MAIL_Smtp__HostName', value: mailHostName }
  { name: 'MAIL_Authentication__AuthServId', value: authServId }
  { name: 'MAIL_Azure__BlobServiceUri', value: blobEndpoint }
  { name: 'MAIL_Azure__QueueServiceUri', value: queueEndpoint }
  { name: 'MAIL_Azure__TableServiceUri', value: tableEndpoint }
  { name: 'MAIL_Azure__ManagedIdentityClientId', value: identityClientId }
  { name: 'MAIL_Azure__QueueTransport', value: queueTransport }
  { name: 'AZURE_CLIENT_ID', value: identityClientId }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
]
var serviceBusSettings = empty(serviceBusNamespace) ? [] : [ { name: 'MAIL_Azure__ServiceBusNamespace', value: serviceBusNamespace } ]
var tlsSettings = empty(keyVaultCertificateId) ? [] : [ { name: 'MAIL_Tls__KeyVaultCertificate', value: keyVaultCertificateId } ]
// Defences as flat keys under the section: { 'Restrictions__smtpd_recipient_restrictions': 'reject_unauth_destination' }.
var defenceSettings = map(items(defences), d => { name: 'MAIL_Defences__${d.key}', value: string(d.value) })
var ports = [ 25, 587, 465, 143, 993 ]

resource groups 'Microsoft.ContainerInstance/containerGroups@2023-05-01' = [for i in range(0, instances): if (!empty(image)) {
  name: '${groupNamePrefix}-${i + 1}'
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    osType: 'Linux'
    sku: 'Standard'
    restartPolicy: 'Always'
    imageRegistryCredentials: [
      { server: registryLoginServer, identity: identityId }
    ]
    containers: [
      {
        name: 'edge'
        properties: {
          image: image
          ports: [for p in ports: { port: p, protocol: 'TCP' }]
          environmentVariables: concat(settings, listeners, serviceBusSettings, tlsSettings, defenceSettings)
          resources: { requests: { cpu: cpuCores, memoryInGB: memoryInGb } }
        }
      }
    ]
    ipAddress: {
      type: 'Public'
      dnsNameLabel: '${groupNamePrefix}-${i + 1}'
      ports: [for p in ports: { port: p, protocol: 'TCP' }]
    }
    diagnostics: {
      logAnalytics: {
        workspaceId: workspace.properties.customerId
        workspaceKey: workspace.listKeys().primarySharedKey
      }
    }
  }
}]

// One entry per MX host: its DNS name and address (empty until the image exists).
output hosts array = [for i in range(0, instances): empty(image) ? { fqdn: '', ip: '' } : {
  fqdn: groups[i]!.properties.ipAddress.fqdn
  ip: groups[i]!.properties.ipAddress.ip
}]
