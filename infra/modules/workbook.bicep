// The "PixCrawler jobs" Azure Monitor workbook on Application Insights: jobs by status, images per
// second, failures by reason and orchestrations by status. Each query is a file in
// infra/monitoring/ (docs/monitoring.md shows the same text; a test keeps them equal), written
// against the events the app logs (shared/logs.py log_event) and the Durable extension's traces.

param location string = resourceGroup().location
param tags object = {}
param applicationInsightsName string

@description('Seed of the workbook\'s GUID name (stable per environment)')
param seed string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var timeRange = {
  type: 9
  content: {
    version: 'KqlParameterItem/1.0'
    parameters: [
      {
        id: 'b1d3c6a0-6f7e-4b4a-9c39-5a1f8d1c2e01'
        version: 'KqlParameterItem/1.0'
        name: 'TimeRange'
        label: 'Time range'
        type: 4
        isRequired: true
        value: {
          durationMs: 86400000
        }
        typeSettings: {
          selectableValues: [
            {
              durationMs: 3600000
            }
            {
              durationMs: 21600000
            }
            {
              durationMs: 86400000
            }
            {
              durationMs: 604800000
            }
          ]
        }
      }
    ]
  }
  name: 'parameters'
}

// title, query file, visualization
var panels = [
  {
    name: 'jobs-by-status'
    title: 'Jobs by status'
    query: loadTextContent('../monitoring/jobs-by-status.kql')
    visualization: 'piechart'
  }
  {
    name: 'images-per-second'
    title: 'Images stored per second'
    query: loadTextContent('../monitoring/images-per-second.kql')
    visualization: 'timechart'
  }
  {
    name: 'failures-by-reason'
    title: 'Failed candidates by reason'
    query: loadTextContent('../monitoring/failures-by-reason.kql')
    visualization: 'barchart'
  }
  {
    name: 'orchestrations-by-status'
    title: 'Orchestrations by status'
    query: loadTextContent('../monitoring/orchestrations-by-status.kql')
    visualization: 'table'
  }
]

var queryItems = map(panels, p => {
  type: 3
  name: p.name
  content: {
    version: 'KqlItem/1.0'
    title: p.title
    query: p.query
    size: 0
    queryType: 0
    resourceType: 'microsoft.insights/components'
    timeContextFromParameter: 'TimeRange'
    visualization: p.visualization
  }
})

var content = {
  version: 'Notebook/1.0'
  items: concat([
    {
      type: 1
      name: 'intro'
      content: {
        json: '## PixCrawler jobs\nFrom the app\'s `job_status` and `batch_done` events and the Durable extension\'s traces. The queries are in infra/monitoring/ and docs/monitoring.md.'
      }
    }
    timeRange
  ], queryItems)
  fallbackResourceIds: [
    appInsights.id
  ]
  '$schema': 'https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json'
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, seed, 'pixcrawler-jobs')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'PixCrawler jobs'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: string(content)
  }
}

output id string = workbook.id
