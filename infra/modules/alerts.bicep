// Alert rules, each sent to one action group (an existing one, or one created here for an
// e-mail address; with neither, the alerts still fire and show in the portal):
//   failed jobs         log alert   a job_status event with status "failed" (alert-failed-jobs.kql)
//   function errors     log alert   failed function executions above a threshold (alert-function-errors.kql)
//   Cosmos DB 429s      metric      TotalRequests with StatusCode 429 (throttled: raise RU/s or go provisioned)
//   storage availability metric     Availability of the storage account below 99 %

param namePrefix string
param tags object = {}
param applicationInsightsName string
param storageAccountName string
param cosmosAccountName string

@description('Resource id of an existing action group; empty = create one for alertEmail (if given)')
param actionGroupId string = ''

@description('E-mail receiver of the action group created when actionGroupId is empty')
param alertEmail string = ''

@description('Failed function executions in 15 minutes that raise an alert')
@minValue(1)
param functionErrorThreshold int = 5

@description('Throttled (429) Cosmos DB requests in 15 minutes that raise an alert')
@minValue(1)
param cosmos429Threshold int = 10

@description('Storage availability (percent) under which an alert is raised')
param storageAvailabilityThreshold int = 99

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}

var createGroup = empty(actionGroupId) && !empty(alertEmail)

resource emailGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (createGroup) {
  name: 'ag-${namePrefix}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'pixcrawler'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var groupIds = !empty(actionGroupId) ? [
  actionGroupId
] : (createGroup ? [
  emailGroup.id
] : [])
var metricActions = map(groupIds, id => {
  actionGroupId: id
})

resource failedJobs 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'failed-jobs-${namePrefix}'
  location: resourceGroup().location
  tags: tags
  properties: {
    displayName: 'PixCrawler: a job failed'
    description: 'A job entered the failed status (job_status event). Its error is in the alert\'s search results; see docs/monitoring.md.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../monitoring/alert-failed-jobs.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: groupIds
    }
  }
}

resource functionErrors 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = {
  name: 'function-errors-${namePrefix}'
  location: resourceGroup().location
  tags: tags
  properties: {
    displayName: 'PixCrawler: function errors'
    description: 'Function executions failed (HTTP 5xx, activity or orchestrator exceptions). See the Failures blade of Application Insights.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../monitoring/alert-function-errors.kql')
          timeAggregation: 'Total'
          metricMeasureColumn: 'itemCount'
          operator: 'GreaterThanOrEqual'
          threshold: functionErrorThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: groupIds
    }
  }
}

resource cosmosThrottled 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'cosmos-429-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Cosmos DB throttled requests (429): the job partition or the account is at its RU/s ceiling (docs/scale.md).'
    severity: 2
    enabled: true
    scopes: [
      cosmos.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'throttled'
          metricNamespace: 'Microsoft.DocumentDB/databaseAccounts'
          metricName: 'TotalRequests'
          dimensions: [
            {
              name: 'StatusCode'
              operator: 'Include'
              values: [
                '429'
              ]
            }
          ]
          timeAggregation: 'Count'
          operator: 'GreaterThanOrEqual'
          threshold: cosmos429Threshold
        }
      ]
    }
    actions: metricActions
  }
}

resource storageAvailability 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'storage-availability-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    description: 'Storage availability dropped: blob, queue or table requests are failing on the service side.'
    severity: 1
    enabled: true
    scopes: [
      storage.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'availability'
          metricNamespace: 'Microsoft.Storage/storageAccounts'
          metricName: 'Availability'
          timeAggregation: 'Average'
          operator: 'LessThan'
          threshold: storageAvailabilityThreshold
        }
      ]
    }
    actions: metricActions
  }
}

output actionGroupIds array = groupIds
