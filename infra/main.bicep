// PixCrawler on Azure: `azd up` provisions this and deploys the Function App (service `api`).
//
//   identity      user-assigned managed identity: the app's only credential
//   monitoring    Log Analytics + Application Insights (local auth off)
//   storage       Blob containers, checkpoint lifecycle, host storage + durable task hub
//   cosmos        Cosmos DB for NoSQL (serverless by default), database + containers
//   keyvault      Key Vault (RBAC) for auth settings and source API keys
//   functionapp   Flex Consumption plan + Function App + app settings
//   rbac          the identity's data-plane roles on each of the above
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the resource names')
param environmentName string

@minLength(1)
@description('Region of every resource (one that offers Flex Consumption)')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Cosmos DB serverless (true) or provisioned autoscale (false)')
param cosmosServerless bool = true

@description('Autoscale ceiling (RU/s) of the database when cosmosServerless is false')
@minValue(1000)
@maxValue(1000000)
param cosmosAutoscaleMaxThroughput int = 4000

@description('Flex Consumption instance memory (MB)')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption scale-out ceiling')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Always-ready instances for HTTP functions (0 = scale to zero)')
@minValue(0)
param alwaysReadyHttp int = 0

@description('Always-ready instances for durable functions (0 = scale to zero)')
@minValue(0)
param alwaysReadyDurable int = 0

@description('Durable task hub name (letters and digits). A new name starts with empty history.')
@minLength(3)
@maxLength(45)
param taskHubName string = 'pixcrawler'

@description('OIDC issuer of user tokens; empty = Entra ID v2.0 issuer of this tenant')
param authOidcIssuer string = ''

@description('JWKS URL of the issuer; empty = Entra ID v2.0 keys of this tenant')
param authJwksUrl string = ''

@description('Token audience; empty = api://pixcrawler-ENVIRONMENT (the Application ID URI to give the app registration)')
param authAudience string = ''

@secure()
@description('Flickr API key (stored in Key Vault); empty = Flickr source not configured')
param flickrApiKey string = ''

@secure()
@description('Google Custom Search API key (stored in Key Vault); empty = Google source not configured')
param googleApiKey string = ''

@description('Google Programmable Search Engine id (not a secret)')
param googleCx string = ''

@description('Checkpoint snapshots: days to Cool / Cold (0 = never) / Archive (0 = never) / delete')
param checkpointCoolAfterDays int = 30
param checkpointColdAfterDays int = 0
param checkpointArchiveAfterDays int = 0
param checkpointDeleteAfterDays int = 90

@description('Key Vault purge protection (recommended; a deleted vault then keeps its name for 90 days)')
param vaultPurgeProtection bool = true

@description('More non-secret PIXCRAWLER_* app settings, e.g. {"PIXCRAWLER_MAX_PARALLEL_CHUNKS": "64"}')
param appSettingOverrides object = {}

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  app: 'pixcrawler'
}
var functionAppName = 'func-pixcrawler-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var cosmosDatabaseName = 'pixcrawler'

var entraIssuer = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
var entraJwks = '${environment().authentication.loginEndpoint}${tenant().tenantId}/discovery/v2.0/keys'

// App setting -> vault secret. Each becomes a Key Vault reference in the Function App.
var vaultSettings = union(
  {
    PIXCRAWLER_AUTH_OIDC_ISSUER: 'auth-oidc-issuer'
    PIXCRAWLER_AUTH_JWKS_URL: 'auth-jwks-url'
    PIXCRAWLER_AUTH_AUDIENCE: 'auth-audience'
  },
  empty(flickrApiKey) ? {} : {
    PIXCRAWLER_FLICKR_API_KEY: 'flickr-api-key'
  },
  empty(googleApiKey) ? {} : {
    PIXCRAWLER_GOOGLE_API_KEY: 'google-api-key'
  }
)

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-pixcrawler-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-pixcrawler-${resourceToken}'
    applicationInsightsName: 'appi-pixcrawler-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'stpix${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    checkpointCoolAfterDays: checkpointCoolAfterDays
    checkpointColdAfterDays: checkpointColdAfterDays
    checkpointArchiveAfterDays: checkpointArchiveAfterDays
    checkpointDeleteAfterDays: checkpointDeleteAfterDays
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    name: 'cosmos-pixcrawler-${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'vault'
  scope: rg
  params: {
    name: 'kv-pix-${resourceToken}'
    location: location
    tags: tags
    authOidcIssuer: empty(authOidcIssuer) ? entraIssuer : authOidcIssuer
    authJwksUrl: empty(authJwksUrl) ? entraJwks : authJwksUrl
    authAudience: empty(authAudience) ? 'api://pixcrawler-${environmentName}' : authAudience
    flickrApiKey: flickrApiKey
    googleApiKey: googleApiKey
    purgeProtection: vaultPurgeProtection
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    vaultName: vault.outputs.vaultName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module api 'modules/functionapp.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-pixcrawler-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    vaultName: vault.outputs.vaultName
    vaultSettings: vaultSettings
    taskHubName: taskHubName
    googleCx: googleCx
    extraAppSettings: appSettingOverrides
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttp: alwaysReadyHttp
    alwaysReadyDurable: alwaysReadyDurable
  }
  // The identity must hold its roles before the app resolves vault references and pulls its package.
  dependsOn: [
    rbac
  ]
}

// Outputs become azd environment values. None of them is a credential.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostName}'
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output PIXCRAWLER_COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output PIXCRAWLER_BLOB_ACCOUNT_URL string = storage.outputs.blobEndpoint
output PIXCRAWLER_TASK_HUB string = taskHubName
output AZURE_VAULT_NAME string = vault.outputs.vaultName
output AUTH_AUDIENCE string = empty(authAudience) ? 'api://pixcrawler-${environmentName}' : authAudience
