// The Function App on Flex Consumption (FC1, Linux, Python 3.11) and its app settings.
// Every connection is identity-based through the app's user-assigned identity:
//   host storage:                    AzureWebJobsStorage__accountName/__credential/__clientId
//   durable backend, scheduler:      DURABLE_TASK_SCHEDULER_CONNECTION_STRING (endpoint + identity)
//   durable backend, storage:        AzureWebJobsStorage, selected by host.json overrides
//   Cosmos DB, Blob:                 PIXCRAWLER_COSMOS_ENDPOINT, PIXCRAWLER_BLOB_ACCOUNT_URL +
//                                    AZURE_CLIENT_ID / PIXCRAWLER_AZURE_CLIENT_ID
//   Application Insights:            connection string + Entra auth (local auth is off)
//   Key Vault references:            keyVaultReferenceIdentity
// The deployment package is written and read with a second identity (deployIdentityId) that
// holds a role on the package container only: the app identity cannot rewrite the app's code.
// No setting holds a key: values that must stay private are Key Vault references.

param name string
param planName string
param location string = resourceGroup().location
param tags object = {}

@description('Resource id of the user-assigned identity')
param identityId string

@description('Client id of the user-assigned identity')
param identityClientId string

@description('Resource id of the identity that writes and reads the deployment package')
param deployIdentityId string

param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

@description('Cosmos DB account endpoint, https://ACCOUNT.documents.azure.com:443/')
param cosmosEndpoint string

param cosmosDatabaseName string

@description('Key Vault that holds the values referenced by vaultSettings')
param vaultName string

@description('App setting name -> secret name in the vault; each becomes a Key Vault reference')
param vaultSettings object

@description('Durable task hub name (PIXCRAWLER_TASK_HUB, read by host.json): letters and digits, 3-45')
@minLength(3)
@maxLength(45)
param taskHubName string

@description('scheduler: host.json as it is (Durable Task Scheduler). storage: app settings override host.json\'s storage provider with the Azure Storage provider')
@allowed([
  'scheduler'
  'storage'
])
param durableBackend string = 'scheduler'

@description('Endpoint of the Durable Task Scheduler (durableBackend = scheduler)')
param schedulerEndpoint string = ''

@description('Subnet for VNet integration (delegated to Microsoft.App/environments); empty = none')
param subnetId string = ''

@description('Browser origins allowed to call the API; empty = no CORS')
param corsAllowedOrigins array = []

@description('CORS: Access-Control-Allow-Credentials')
param corsSupportCredentials bool = false

@description('Google Programmable Search Engine id (PIXCRAWLER_GOOGLE_CX); empty = not set')
param googleCx string = ''

@description('More non-secret PIXCRAWLER_* settings (tuning). They cannot override the settings above.')
param extraAppSettings object = {}

@description('Memory of each instance; CPU and network scale with it')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Ceiling of the scale-out (main.bicep caps it by the regional core quota)')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances for the HTTP group; 0 = scale to zero (cold starts)')
@minValue(0)
param alwaysReadyHttp int = 0

@description('Always-ready instances for the durable group (orchestrators, entities, activities)')
@minValue(0)
param alwaysReadyDurable int = 0

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

var alwaysReadyHttpGroup = (alwaysReadyHttp > 0) ? [
  {
    name: 'http'
    instanceCount: alwaysReadyHttp
  }
] : []
var alwaysReadyDurableGroup = (alwaysReadyDurable > 0) ? [
  {
    name: 'durable'
    instanceCount: alwaysReadyDurable
  }
] : []

// host.json is the one source of the durable concurrency limits; the Python worker gets as many
// threads as the Durable extension may hand it synchronous work at once (orchestrator and
// entity episodes; activities are coroutines on the worker's event loop and take no thread).
var hostDurable = loadJsonContent('../../host.json').extensions.durableTask
var workerThreads = hostDurable.maxConcurrentOrchestratorFunctions + hostDurable.maxConcurrentEntityFunctions

// The durable backend. host.json names the Durable Task Scheduler (storageProvider.type
// azureManaged, its connection in DURABLE_TASK_SCHEDULER_CONNECTION_STRING); the storage backend
// replaces those values with app settings, the documented way to override host.json
// (AzureFunctionsJobHost__<path>), so one host.json serves both.
var schedulerSettings = {
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};Authentication=ManagedIdentity;ClientID=${identityClientId}'
}
var storageBackendSettings = {
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__type: 'AzureStorage'
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__connectionStringName: 'AzureWebJobsStorage'
  // 16 control queues: up to 16 instances share orchestration work (the maximum).
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__partitionCount: '16'
  // Microsoft's Flex Consumption guidance: poll an idle queue at least every 10 s (default 30 s).
  AzureFunctionsJobHost__extensions__durableTask__storageProvider__maxQueuePollingInterval: '00:00:10'
}
var durableSettings = (durableBackend == 'scheduler') ? schedulerSettings : storageBackendSettings

// The settings every deployment needs (shared/settings.py names them; a contract test checks it).
var coreSettings = {
  // Functions host storage and the durable task hub, identity-based.
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  // Application Insights with Entra ID authentication.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // DefaultAzureCredential picks the user-assigned identity from AZURE_CLIENT_ID.
  AZURE_CLIENT_ID: identityClientId

  // Threads of the Python worker for synchronous functions (see workerThreads).
  PYTHON_THREADPOOL_THREAD_COUNT: string(workerThreads)

  // The app (shared.settings.Settings).
  PIXCRAWLER_AZURE_CLIENT_ID: identityClientId
  PIXCRAWLER_COSMOS_ENDPOINT: cosmosEndpoint
  PIXCRAWLER_COSMOS_DATABASE: cosmosDatabaseName
  PIXCRAWLER_BLOB_ACCOUNT_URL: storage.properties.primaryEndpoints.blob
  PIXCRAWLER_TASK_HUB: taskHubName
}

var optionalSettings = empty(googleCx) ? {} : {
  PIXCRAWLER_GOOGLE_CX: googleCx
}

var vaultReferences = toObject(
  items(vaultSettings),
  entry => entry.key,
  entry => '@Microsoft.KeyVault(VaultName=${vaultName};SecretName=${entry.value})'
)

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
      '${deployIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      // The platform answers CORS preflights and adds the headers for these origins.
      cors: {
        allowedOrigins: corsAllowedOrigins
        supportCredentials: corsSupportCredentials
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: deployIdentityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        alwaysReady: concat(alwaysReadyHttpGroup, alwaysReadyDurableGroup)
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  // Later arguments win: extra settings can never replace a core setting or a vault reference.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union(extraAppSettings, optionalSettings, vaultReferences, durableSettings, coreSettings)
  }
}

// Deployments go through the deployment container with the identity: no publishing passwords.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
