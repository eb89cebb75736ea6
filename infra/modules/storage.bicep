// One storage account for everything the app keeps as bytes, and for the Functions host:
//   - the app's Blob containers (shared/names.py BLOB_CONTAINERS: images, datasets, checkpoints)
//   - the Flex Consumption deployment package container
//   - the durable task hub (queues, tables, lease blobs) and host state, through
//     AzureWebJobsStorage__accountName with the managed identity.
// Shared-key access is off, so nothing can use an account key, even by mistake.

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Blob container that receives the Function App deployment package')
param deploymentContainerName string

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

// The containers the app writes (shared/names.py BLOB_CONTAINERS).
var appContainers = [
  'images'
  'datasets'
  'checkpoints'
]

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
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
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
