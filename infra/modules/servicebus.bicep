// Azure:QueueTransport=ServiceBus: the inbound and outbound queues on a Standard namespace (scheduled messages and
// dead-lettering are built in), local authentication off: identities only.
param name string
param location string
param tags object

@description('Deliveries before Service Bus dead-letters a message itself (Functions:MaxDeliveries dead-letters first, with the reason).')
param maxDeliveryCount int = 10

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = [for q in [ 'inbound', 'outbound' ]: {
  parent: namespace
  name: q
  properties: {
    maxDeliveryCount: maxDeliveryCount
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}]

output name string = namespace.name
output id string = namespace.id
output fullyQualifiedName string = '${namespace.name}.servicebus.windows.net'
