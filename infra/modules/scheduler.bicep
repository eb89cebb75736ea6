// The Durable Task Scheduler: the managed backend of Durable Functions (host.json
// storageProvider.type = azureManaged). The app reaches it over gRPC with its managed identity
// (DURABLE_TASK_SCHEDULER_CONNECTION_STRING = Endpoint=...;Authentication=ManagedIdentity;ClientID=...)
// and holds Durable Task Data Contributor on the task hub only (rbac.bicep). Orchestration
// history and entity state live in the task hub; its dashboard is
// https://dashboard.durabletask.io/?endpoint=<endpoint>&taskhub=<task hub>.

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Task hub name (host.json hubName = %PIXCRAWLER_TASK_HUB%)')
@minLength(3)
@maxLength(45)
param taskHubName string

@description('Consumption: pay per dispatched action, up to 500 actions/s. Dedicated: capacity units of 2,000 actions/s each')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string = 'Consumption'

@description('Capacity units (Dedicated only)')
@minValue(1)
@maxValue(3)
param capacity int = 1

@description('false = reachable only through its private endpoint (network.bicep)')
param publicNetworkAccess bool = true

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    // An empty allow list denies every caller; access is decided by Entra ID roles.
    ipAllowlist: publicNetworkAccess ? [
      '0.0.0.0/0'
    ] : []
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
    sku: (skuName == 'Dedicated') ? {
      name: skuName
      capacity: capacity
    } : {
      name: skuName
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2026-02-01' = {
  parent: scheduler
  name: taskHubName
}

output name string = scheduler.name
output id string = scheduler.id
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
output taskHubId string = taskHub.id
