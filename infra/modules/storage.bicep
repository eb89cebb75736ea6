// One storage account for everything the app keeps as bytes, and for the Functions host:
//   - the app's Blob containers (shared/names.py BLOB_CONTAINERS: images, datasets, checkpoints)
//   - the host's containers (locks, timer schedules, keys) and, on the storage backend, the
//     task hub's lease and large-message containers, created here so that roles can be granted
//     on each container instead of the account (rbac.bicep)
//   - the Flex Consumption deployment package container (only the deployment identity writes it)
//   - on the storage backend, the task hub's queues and tables, through
//     AzureWebJobsStorage__accountName with the managed identity.
// Shared-key access is off, so nothing can use an account key, even by mistake. With
// publicNetworkAccess false the account answers only its private endpoints (network.bicep).

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Blob containers the app writes (shared/names.py BLOB_CONTAINERS)')
param appContainers array

@description('Blob containers of the Functions host and of the task hub')
param hostContainers array

@description('Blob container that receives the Function App deployment package')
param deploymentContainerName string

@description('false = reachable only through private endpoints')
param publicNetworkAccess bool = true

@description('Days after the last write that checkpoint snapshots move to Cool (the app\'s timer does the same)')
@minValue(1)
param checkpointCoolAfterDays int = 30

@description('Days after the last write that checkpoint snapshots move to Cold; 0 = never')
@minValue(0)
param checkpointColdAfterDays int = 0

@description('Days after the last write that checkpoint snapshots move to Archive; 0 = never')
@minValue(0)
param checkpointArchiveAfterDays int = 0

@description('Days after the last write that checkpoint snapshots are deleted')
@minValue(1)
param checkpointDeleteAfterDays int = 90

@description('Days a deleted blob or container can be restored')
@minValue(1)
@maxValue(365)
param softDeleteDays int = 7

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
    networkAcls: {
      defaultAction: publicNetworkAccess ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        queue: {
          enabled: true
        }
        table: {
          enabled: true
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in appContainers: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource hostContainerSet 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in hostContainers: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Checkpoint snapshots age out exactly as the app's timers move them (Cool -> Cold -> Archive ->
// delete); the policy is the backstop when a timer has not run. The optional tiers are included
// only when their day count is set.
var coolAction = {
  tierToCool: {
    daysAfterModificationGreaterThan: checkpointCoolAfterDays
  }
}
var coldAction = (checkpointColdAfterDays > 0) ? {
  tierToCold: {
    daysAfterModificationGreaterThan: checkpointColdAfterDays
  }
} : {}
var archiveAction = (checkpointArchiveAfterDays > 0) ? {
  tierToArchive: {
    daysAfterModificationGreaterThan: checkpointArchiveAfterDays
  }
} : {}
var deleteAction = {
  delete: {
    daysAfterModificationGreaterThan: checkpointDeleteAfterDays
  }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'checkpoints-age-out'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                'checkpoints/'
              ]
            }
            actions: {
              baseBlob: union(coolAction, coldAction, archiveAction, deleteAction)
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

output name string = account.name
output id string = account.id
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table
