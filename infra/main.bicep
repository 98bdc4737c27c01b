// Cloud mode of the mail system (azd): storage for messages, queues, mailboxes and state (and Service Bus when
// chosen); the Functions app running the pipeline; the SMTP edge and IMAP gateway as container groups with public
// IPs (Azure Container Instances: the client's address reaches the edge); a Key Vault for the TLS certificate;
// monitoring and alerts; managed identities with least-privilege data-plane roles (no keys or connection strings).
// infra/README.md explains the choices, the limits and the costs.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; used to name the resource group and derive resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources.')
param location string

@description('Object id of the deploying user (or group, or service principal: see principalType), given data access for the admin commands and the right to import the certificate (optional).')
param principalId string = ''

@description('What principalId is: a User when azd runs as a person, a ServicePrincipal in CI.')
@allowed([ 'User', 'Group', 'ServicePrincipal' ])
param principalType string = 'User'

@description('Smtp:HostName: the name the edge announces in its greeting and Received: headers, the MX target, the certificate\'s name.')
param mailHostName string

@description('Authentication:AuthServId: the authserv-id in Authentication-Results (RFC 8601); empty: the host name.')
param authServId string = ''

@description('The mail domains, comma-separated: used for the DNS records printed after deployment (add each with `mail domain add`).')
param domains string = ''

@description('The Defences section as JSON with flat keys, e.g. {"Restrictions__smtpd_recipient_restrictions": "permit_sasl_authenticated, reject_unauth_destination"} (docs/postfix.md); empty: no Defences section.')
param defences string = ''

@description('The edge image, set by the postdeploy hook (infra/hooks/edge-image.sh) in the azd environment as EDGE_IMAGE. Empty on the very first provision: the container groups are made once the image exists, and a later provision keeps the image running.')
param edgeImage string = ''

@description('MX hosts: container groups, each with its own public IP (one MX record each).')
@minValue(1)
@maxValue(5)
param edgeInstances int = 1

@description('Name of the TLS certificate in the Key Vault (import it, or have Key Vault issue and renew it); empty: a self-signed certificate made per container.')
param tlsCertificateName string = ''

@description('Queue transport of the pipeline.')
@allowed([ 'StorageQueue', 'ServiceBus' ])
param queueTransport string = 'StorageQueue'

@description('Smart host for outbound mail (outbound port 25 is blocked on Azure), e.g. [smtp.sendgrid.net]:587.')
param relayHost string = ''

@description('User name at the smart host; the password goes into the Key Vault as the secret "relay-password".')
param relayUser string = ''

@description('Mail address for alerts; empty: alerts show in the portal only.')
param alertEmail string = ''

@description('Functions runtime version (.NET isolated worker).')
param functionsRuntimeVersion string = '10.0'

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))
var useServiceBus = queueTransport == 'ServiceBus'
var domainList = filter(map(split(domains, ','), d => trim(d)), d => !empty(d))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module edgeIdentity 'modules/identity.bicep' = {
  name: 'edge-identity'
  scope: rg
  params: {
    name: 'id-mail-edge-${token}'
    location: location
    tags: tags
  }
}

module functionsIdentity 'modules/identity.bicep' = {
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

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-mail-${take(token, 12)}'
    location: location
    tags: tags
  }
}

module serviceBus 'modules/servicebus.bicep' = if (useServiceBus) {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-mail-${token}'
    location: location
    tags: tags
  }
}

var serviceBusName = useServiceBus ? serviceBus!.outputs.name : ''
var serviceBusNamespace = useServiceBus ? serviceBus!.outputs.fullyQualifiedName : ''

module registry 'modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: 'crmail${token}'
    location: location
    tags: tags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    registryName: registry.outputs.name
    keyVaultName: vault.outputs.name
    serviceBusName: serviceBusName
    edgePrincipalId: edgeIdentity.outputs.principalId
    functionsPrincipalId: functionsIdentity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
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
    identityId: functionsIdentity.outputs.id
    identityClientId: functionsIdentity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    queueTransport: queueTransport
    serviceBusNamespace: serviceBusNamespace
    relayHost: relayHost
    relayUser: relayUser
    keyVaultName: vault.outputs.name
  }
  dependsOn: [ roles ]
}

module edge 'modules/edge.bicep' = {
  name: 'edge'
  scope: rg
  params: {
    registryLoginServer: registry.outputs.loginServer
    groupNamePrefix: 'ci-mail-${token}'
    location: location
    tags: tags
    identityId: edgeIdentity.outputs.id
    identityClientId: edgeIdentity.outputs.clientId
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    mailHostName: mailHostName
    authServId: empty(authServId) ? mailHostName : authServId
    queueTransport: queueTransport
    serviceBusNamespace: serviceBusNamespace
    keyVaultCertificateId: empty(tlsCertificateName) ? '' : '${vault.outputs.uri}certificates/${tlsCertificateName}'
    defences: json(empty(defences) ? '{}' : defences)
    image: edgeImage
    instances: edgeInstances
  }
  dependsOn: [ roles ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: 'alert-mail-${token}'
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    appInsightsName: 'appi-mail-${token}'
    serviceBusName: serviceBusName
    alertEmail: alertEmail
  }
  dependsOn: [ monitoring ]
}

// The DNS records to publish, for each domain. MX: one per edge container group (its own DNS name and address);
// the container groups' addresses are known once the image exists (after the first `azd up`).
// One edge: the MX host is Smtp:HostName itself; several: mx1.HOST, mx2.HOST, ... (the certificate names them all).
var mxNames = edgeInstances == 1 ? [ mailHostName ] : map(range(1, edgeInstances), i => 'mx${i}.${mailHostName}')
var mxHosts = map(edge.outputs.hosts, (h, i) => empty(h.ip) ? '${mxNames[i]}: address known after the first azd up' : '${mxNames[i]}. A ${h.ip}   (the container group is also ${h.fqdn})')
var dnsRecords = [for d in domainList: {
  domain: d
  MX: map(range(0, edgeInstances), i => '${d}. MX ${10 * (i + 1)} ${mxNames[i]}.')
  SPF: empty(relayHost) ? '${d}. TXT "v=spf1 -all"   (no smart host set: nothing may send for the domain yet)' : '${d}. TXT "v=spf1 include:<the smart host\'s SPF domain> -all"'
  DKIM: 'selector._domainkey.${d}. TXT (printed by `mail dkim add ${d}` against the cloud storage; docs/dkim.md)'
  DMARC: '_dmarc.${d}. TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@${d}"'
  MTA_STS: '_mta-sts.${d}. TXT "v=STSv1; id=<date>"; policy at https://mta-sts.${d}/.well-known/mta-sts.txt: "version: STSv1 / mode: testing / mx: ${join(mxNames, ' / mx: ')} / max_age: 86400" (needs an HTTPS host: infra/README.md)'
}]

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_STORAGE_QUEUE_ENDPOINT string = storage.outputs.queueEndpoint
output AZURE_STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output AZURE_KEY_VAULT_URI string = vault.outputs.uri
output AZURE_SERVICE_BUS_NAMESPACE string = serviceBusNamespace
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = functionsIdentity.outputs.clientId
output EDGE_MANAGED_IDENTITY_CLIENT_ID string = edgeIdentity.outputs.clientId
output EDGE_HOSTS array = edge.outputs.hosts
output EDGE_MX_HOSTS array = mxHosts
output FUNCTIONS_APP_NAME string = functions.outputs.name
output DNS_RECORDS array = dnsRecords
output SMART_HOST_SETTINGS string = empty(relayHost)
  ? 'Outbound port 25 is blocked on Azure: azd env set MAIL_RELAY_HOST "[smtp.example.net]:587", MAIL_RELAY_USER NAME, put the password in ${vault.outputs.name} as the secret relay-password, then azd provision (infra/README.md, "Smart host").'
  : 'Outbound__RelayHost=${relayHost}, Outbound__RelayUser=${relayUser}, Outbound__RelayPassword from the Key Vault secret relay-password in ${vault.outputs.name}; publish the smart host\'s SPF include and its DKIM instructions if it signs.'
