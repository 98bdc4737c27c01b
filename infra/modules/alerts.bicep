// Alerts on the two states an operator must hear about: envelopes set aside (dead-lettered / poison) and envelopes
// waiting too long. Azure has no "age of the oldest message" metric for Storage Queues or Service Bus, so the age is
// watched through the backlog: the number of queued envelopes staying above a threshold for a whole window means the
// oldest one has waited at least that long (the pipeline drains a healthy queue within seconds).
param namePrefix string
param location string
param tags object
param storageAccountName string
param appInsightsName string
param serviceBusName string = ''

@description('Mail address that receives the alerts; empty: the alerts fire in the portal only.')
param alertEmail string = ''

@description('Queued envelopes (all queues of the account, or per Service Bus queue) above which a backlog alerts.')
param backlogThreshold int = 100

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' existing = if (!empty(serviceBusName)) {
  name: empty(serviceBusName) ? 'none' : serviceBusName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-ag'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mail'
    enabled: true
    emailReceivers: [ { name: 'operator', emailAddress: alertEmail, useCommonAlertSchema: true } ]
  }
}

var actions = empty(alertEmail) ? [] : [ { actionGroupId: actionGroup.id } ]

// Storage Queue transport: every envelope set aside lands on inbound-poison or outbound-poison, and each one runs
// the InboundPoison / OutboundPoison function once, which Application Insights records as a request.
resource poison 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = if (empty(serviceBusName)) {
  name: '${namePrefix}-poison'
  location: location
  tags: tags
  properties: {
    displayName: 'Mail: envelopes set aside (poison queues)'
    severity: 1
    enabled: true
    scopes: [ appInsights.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: 'requests | where name in ("InboundPoison", "OutboundPoison")'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: empty(alertEmail) ? [] : [ actionGroup.id ] }
  }
}

// Storage Queue transport: queued envelopes, all queues of the account together (the metric has no queue
// dimension); a capacity metric, reported hourly.
resource storageBacklog 'Microsoft.Insights/metricAlerts@2018-03-01' = if (empty(serviceBusName)) {
  name: '${namePrefix}-backlog'
  location: 'global'
  tags: tags
  properties: {
    description: 'Queued envelopes stayed above the threshold for two hours: the oldest has waited at least that long.'
    severity: 2
    enabled: true
    scopes: [ queueService.id ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT2H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'queued'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.Storage/storageAccounts/queueServices'
          metricName: 'QueueMessageCount'
          timeAggregation: 'Average'
          operator: 'GreaterThan'
          threshold: backlogThreshold
        }
      ]
    }
    actions: actions
  }
}

// Service Bus transport: dead-lettered and waiting messages, per queue.
resource busDeadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = if (!empty(serviceBusName)) {
  name: '${namePrefix}-deadletters'
  location: 'global'
  tags: tags
  properties: {
    description: 'An envelope was dead-lettered on a Service Bus queue.'
    severity: 1
    enabled: true
    scopes: [ serviceBus.id ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'deadlettered'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [ { name: 'EntityName', operator: 'Include', values: [ '*' ] } ]
          timeAggregation: 'Maximum'
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    actions: actions
  }
}

resource busBacklog 'Microsoft.Insights/metricAlerts@2018-03-01' = if (!empty(serviceBusName)) {
  name: '${namePrefix}-backlog'
  location: 'global'
  tags: tags
  properties: {
    description: 'Active messages on a queue stayed above the threshold for an hour: the oldest has waited at least that long.'
    severity: 2
    enabled: true
    scopes: [ serviceBus.id ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'active'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'ActiveMessages'
          dimensions: [ { name: 'EntityName', operator: 'Include', values: [ '*' ] } ]
          timeAggregation: 'Minimum'
          operator: 'GreaterThan'
          threshold: backlogThreshold
        }
      ]
    }
    actions: actions
  }
}
