// Every permission, least privilege: each role on the narrowest scope its use needs.
//
// The app's identity (principalId), which all app code and the Functions host run as:
//   Storage Blob Data Contributor   each app container (images, datasets, checkpoints) and each
//                                   host/task-hub container, never the account: the deployment
//                                   package container is out of its reach
//   Storage Blob Delegator          storage account: only the user delegation key that signs
//                                   dataset download URLs (the SAS carries no more than the
//                                   container roles above allow)
//   Storage Queue/Table Data Contributor  storage account, only on the storage backend (task
//                                   hub queues and tables, named at run time)
//   Durable Task Data Contributor   the task hub, only on the scheduler backend
//   Cosmos DB Built-in Data Contributor (SQL role)  the `pixcrawler` database, not the account
//   Key Vault Secrets User          vault (Key Vault references in app settings)
//   Monitoring Metrics Publisher    Application Insights (telemetry with Entra auth)
//
// The deployment identity (deployPrincipalId), used by the platform only to store and read the
// code package: Storage Blob Data Contributor on the deployment package container, nothing else.
//
// The operator who deploys (operatorPrincipalId, azd's AZURE_PRINCIPAL_ID), so that the portal's
// Storage browser, Cosmos Data Explorer and the scheduler dashboard work with keys disabled:
//   Storage Blob Data Reader        storage account
//   Storage Queue/Table Data Reader storage account, storage backend (the task hub)
//   Durable Task Data Contributor   the task hub (the dashboard needs it), scheduler backend
//   Cosmos DB Built-in Data Reader  the `pixcrawler` database
//   Key Vault Secrets Officer       vault (rotating source API keys, docs/deploy.md)

@description('Principal (object) id of the app\'s user-assigned identity')
param principalId string

@description('Principal id of the identity that writes and reads the deployment package')
param deployPrincipalId string

@description('Principal id of the deploying operator; empty = no operator roles')
param operatorPrincipalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param operatorPrincipalType string = 'User'

@allowed([
  'scheduler'
  'storage'
])
param durableBackend string

param storageAccountName string

@description('Containers the app writes')
param appContainers array

@description('Containers of the Functions host and the task hub')
param hostContainers array

param deploymentContainerName string
param cosmosAccountName string
param cosmosDatabaseName string
param vaultName string
param applicationInsightsName string

@description('Durable Task Scheduler name; empty on the storage backend')
param schedulerName string = ''

param taskHubName string

var roles = {
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  blobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  queueDataReader: '19e7f393-937e-4f77-808e-94535e297925'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  tableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
  vaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  vaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  metricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}
// Cosmos DB data-plane (SQL) role definitions: built in to every account.
var cosmosDataContributor = '00000000-0000-0000-0000-000000000002'
var cosmosDataReader = '00000000-0000-0000-0000-000000000001'

var onStorageBackend = durableBackend == 'storage'
var onScheduler = durableBackend == 'scheduler'
var hasOperator = !empty(operatorPrincipalId)
var containerNames = concat(appContainers, hostContainers)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [
  for containerName in containerNames: {
    parent: blobService
    name: containerName
  }
]

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deploymentContainerName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' existing = if (onScheduler) {
  name: onScheduler ? schedulerName : 'none'
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2026-02-01' existing = if (onScheduler) {
  parent: scheduler
  name: taskHubName
}

// ---------------------------------------------------------------- the app's identity

resource appBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (containerName, i) in containerNames: {
    name: guid(containers[i].id, principalId, roles.blobDataContributor)
    scope: containers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appDelegator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.blobDelegator)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDelegator)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (onStorageBackend) {
  name: guid(storage.id, principalId, roles.queueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource appTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (onStorageBackend) {
  name: guid(storage.id, principalId, roles.tableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource appTaskHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (onScheduler) {
  name: guid(taskHub.id, principalId, roles.durableTaskDataContributor)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Cosmos DB data-plane roles are Cosmos SQL role assignments, scoped by path inside the account.
resource appCosmos 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = {
  parent: cosmos
  name: guid(cosmos.id, principalId, cosmosDataContributor)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataContributor}'
    principalId: principalId
    scope: '${cosmos.id}/dbs/${cosmosDatabaseName}'
  }
}

resource appVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, roles.vaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.vaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource appMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, roles.metricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.metricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------- the deployment identity

resource deployPackage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deploymentContainer.id, deployPrincipalId, roles.blobDataContributor)
  scope: deploymentContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
    principalId: deployPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------- the operator

resource operatorBlob 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(storage.id, operatorPrincipalId, roles.blobDataReader)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator && onStorageBackend) {
  name: guid(storage.id, operatorPrincipalId, roles.queueDataReader)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator && onStorageBackend) {
  name: guid(storage.id, operatorPrincipalId, roles.tableDataReader)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorTaskHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator && onScheduler) {
  name: guid(taskHub.id, operatorPrincipalId, roles.durableTaskDataContributor)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

resource operatorCosmos 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = if (hasOperator) {
  parent: cosmos
  name: guid(cosmos.id, operatorPrincipalId, cosmosDataReader)
  properties: {
    roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${cosmosDataReader}'
    principalId: operatorPrincipalId
    scope: '${cosmos.id}/dbs/${cosmosDatabaseName}'
  }
}

resource operatorVault 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasOperator) {
  name: guid(vault.id, operatorPrincipalId, roles.vaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.vaultSecretsOfficer)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}
