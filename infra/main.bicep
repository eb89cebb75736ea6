// PixCrawler on Azure: `azd up` provisions this and deploys the Function App (service `api`).
//
//   identity        user-assigned managed identities: the app's (its only credential) and the
//                   deployment's (writes the code package; the app identity cannot)
//   monitoring      Log Analytics + Application Insights (local auth off)
//   storage         Blob containers, checkpoint lifecycle, host storage (+ task hub on `storage`)
//   cosmos          Cosmos DB for NoSQL (serverless by default), database + containers
//   keyvault        Key Vault (RBAC) for auth settings and source API keys
//   scheduler       Durable Task Scheduler + task hub (durableBackend = 'scheduler')
//   network         VNet, private endpoints, private DNS (network = 'private')
//   functionapp     Flex Consumption plan + Function App + app settings
//   rbac            each identity's data-plane roles, scoped to what it uses
//   diagnostics     diagnostic settings of every resource to the Log Analytics workspace
//   alerts          alert rules (failed jobs, function errors, Cosmos 429s, storage availability)
//   workbook        the "PixCrawler jobs" Azure Monitor workbook (queries in infra/monitoring/)
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the resource names')
param environmentName string

// Regions that offer Flex Consumption (az functionapp list-flexconsumption-locations), as in
// Microsoft's Flex Consumption azd templates. A region outside this list fails here, before
// anything is created, instead of at the plan.
@minLength(1)
@description('Region of every resource (one that offers Flex Consumption)')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Durable Functions backend: the Durable Task Scheduler (recommended) or the Azure Storage provider')
@allowed([
  'scheduler'
  'storage'
])
param durableBackend string = 'scheduler'

@description('Durable Task Scheduler SKU (durableBackend = scheduler): pay per action, or reserved capacity units')
@allowed([
  'Consumption'
  'Dedicated'
])
param schedulerSku string = 'Consumption'

@description('Capacity units of a Dedicated scheduler (2,000 actions/s each)')
@minValue(1)
@maxValue(3)
param schedulerCapacity int = 1

@description('public: services reachable over the internet (identity-only auth). private: VNet integration, private endpoints, public access off')
@allowed([
  'public'
  'private'
])
param network string = 'public'

@description('Address space of the VNet (network = private); two /24 subnets are carved from its start')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('Cosmos DB serverless (true) or provisioned autoscale (false)')
param cosmosServerless bool = true

@description('Autoscale ceiling (RU/s) of the database when cosmosServerless is false')
@minValue(1000)
@maxValue(1000000)
param cosmosAutoscaleMaxThroughput int = 4000

@description('Flex Consumption instance memory (MB); 512 = 0.25 core, 2048 = 1 core, 4096 = 2 cores')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Flex Consumption scale-out ceiling; capped by regionalCoreQuota (see effectiveMaximumInstanceCount)')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Flex Consumption cores this app may use in the region: the default subscription quota is 250 cores (512,000 MB) per region, shared by every Flex app in it')
@minValue(1)
param regionalCoreQuota int = 250

@description('Always-ready instances for HTTP functions (0 = scale to zero)')
@minValue(0)
param alwaysReadyHttp int = 0

@description('Always-ready instances for durable functions (0 = scale to zero; the storage backend always keeps at least 1)')
@minValue(0)
param alwaysReadyDurable int = 0

@description('Durable task hub name: a letter, then letters and digits, 3-45 characters. A new name starts with empty history.')
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

@description('default: create the vault. recover: bring back the soft-deleted vault of this environment (after `azd down` without purge)')
@allowed([
  'default'
  'recover'
])
param vaultCreateMode string = 'default'

@description('Browser origins allowed to call the API (CORS), comma-separated, e.g. "https://app.example.com,https://admin.example.com"; empty = none')
param corsAllowedOrigins string = ''

@description('CORS: allow credentials (cookies, Authorization from the browser). Not allowed together with the "*" origin.')
param corsSupportCredentials bool = false

@description('Resource id of an existing action group that receives the alerts; empty = use alertEmail, or no action')
param alertActionGroupId string = ''

@description('E-mail address for an action group created here when alertActionGroupId is empty; empty = alerts fire in the portal only')
param alertEmail string = ''

@description('Object id of the principal running the deployment (azd sets AZURE_PRINCIPAL_ID): it gets the data-plane and dashboard roles to use the portal; empty = none')
param principalId string = ''

@description('Type of that principal')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

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

// The task hub name is used as the scheduler's task hub resource name and, on the storage
// backend, in queue, table and container names: a letter, then letters and digits (the rule of
// the Azure Storage provider, which rejects a hyphen only when the host starts).
var hubLetters = 'abcdefghijklmnopqrstuvwxyz'
var hubChars = map(range(0, length(taskHubName)), i => toLower(substring(taskHubName, i, 1)))
var hubIsValid = contains(hubLetters, first(hubChars)) && empty(filter(hubChars, c => !contains('${hubLetters}0123456789', c)))
var taskHub = hubIsValid ? taskHubName : fail('taskHubName must start with a letter and hold only letters and digits (3-45 characters)')

// Blob containers the app writes (shared/names.py BLOB_CONTAINERS), and those the Functions host
// (locks, timer schedules, keys) and, on the storage backend, the task hub (partition and app
// leases, large messages) use. The app identity's blob role is granted on each, never on the
// account: the deployment package container is out of its reach.
var appBlobContainers = [
  'images'
  'datasets'
  'checkpoints'
]
var hostBlobContainers = concat(
  [
    'azure-webjobs-hosts'
    'azure-webjobs-secrets'
  ],
  (durableBackend == 'storage') ? [
    '${toLower(taskHub)}-leases'
    '${toLower(taskHub)}-applease'
    '${toLower(taskHub)}-largemessages'
  ] : []
)

// Flex Consumption counts cores per region: instances x (memory / 2048 MB) must stay within the
// quota, or scale-out is throttled and deployments can fail.
var quotaInstances = (regionalCoreQuota * 2048) / instanceMemoryMB
var effectiveMaximumInstanceCount = min(maximumInstanceCount, quotaInstances)

// Microsoft's guidance for the Azure Storage provider on Flex Consumption: keep one durable
// instance always ready, so the control queues are polled without waiting for a cold start.
var effectiveAlwaysReadyDurable = (durableBackend == 'storage') ? max(1, alwaysReadyDurable) : alwaysReadyDurable

var corsOrigins = filter(map(split(corsAllowedOrigins, ','), o => trim(o)), o => !empty(o))
var corsChecked = (corsSupportCredentials && contains(corsOrigins, '*')) ? fail('corsSupportCredentials cannot be used with the "*" origin: list the origins') : corsOrigins

var isPrivate = network == 'private'
var useScheduler = durableBackend == 'scheduler'

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

module deployIdentity 'modules/identity.bicep' = {
  name: 'deploy-identity'
  scope: rg
  params: {
    name: 'id-pixcrawler-deploy-${resourceToken}'
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
    appContainers: appBlobContainers
    hostContainers: hostBlobContainers
    deploymentContainerName: deploymentContainerName
    publicNetworkAccess: !isPrivate
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
    publicNetworkAccess: !isPrivate
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
    createMode: vaultCreateMode
    publicNetworkAccess: !isPrivate
  }
}

module scheduler 'modules/scheduler.bicep' = if (useScheduler) {
  name: 'scheduler'
  scope: rg
  params: {
    name: 'dts-pixcrawler-${resourceToken}'
    location: location
    tags: tags
    taskHubName: taskHub
    skuName: schedulerSku
    capacity: schedulerCapacity
    publicNetworkAccess: !isPrivate
  }
}

module vnet 'modules/network.bicep' = if (isPrivate) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-pixcrawler-${resourceToken}'
    location: location
    tags: tags
    addressPrefix: vnetAddressPrefix
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    vaultName: vault.outputs.vaultName
    schedulerName: useScheduler ? scheduler.outputs.name : ''
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    deployPrincipalId: deployIdentity.outputs.principalId
    operatorPrincipalId: principalId
    operatorPrincipalType: principalType
    durableBackend: durableBackend
    storageAccountName: storage.outputs.name
    appContainers: appBlobContainers
    hostContainers: hostBlobContainers
    deploymentContainerName: deploymentContainerName
    cosmosAccountName: cosmos.outputs.name
    cosmosDatabaseName: cosmos.outputs.databaseName
    vaultName: vault.outputs.vaultName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    schedulerName: useScheduler ? scheduler.outputs.name : ''
    taskHubName: taskHub
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
    deployIdentityId: deployIdentity.outputs.id
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmos.outputs.databaseName
    vaultName: vault.outputs.vaultName
    vaultSettings: vaultSettings
    taskHubName: taskHub
    durableBackend: durableBackend
    schedulerEndpoint: useScheduler ? scheduler.outputs.endpoint : ''
    googleCx: googleCx
    extraAppSettings: appSettingOverrides
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: effectiveMaximumInstanceCount
    alwaysReadyHttp: alwaysReadyHttp
    alwaysReadyDurable: effectiveAlwaysReadyDurable
    subnetId: isPrivate ? vnet.outputs.appSubnetId : ''
    corsAllowedOrigins: corsChecked
    corsSupportCredentials: corsSupportCredentials
  }
  // The identities must hold their roles before the app resolves vault references and pulls its package.
  dependsOn: [
    rbac
  ]
}

module diagnostics 'modules/diagnostics.bicep' = {
  name: 'diagnostics'
  scope: rg
  params: {
    workspaceName: monitoring.outputs.logAnalyticsName
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    vaultName: vault.outputs.vaultName
    functionAppName: api.outputs.name
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: 'pixcrawler-${resourceToken}'
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.name
    actionGroupId: alertActionGroupId
    alertEmail: alertEmail
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    seed: resourceToken
  }
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
output PIXCRAWLER_TASK_HUB string = taskHub
output PIXCRAWLER_DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_ENDPOINT string = useScheduler ? scheduler.outputs.endpoint : ''
output DURABLE_TASK_SCHEDULER_DASHBOARD string = useScheduler ? 'https://dashboard.durabletask.io/?endpoint=${uriComponent(scheduler.outputs.endpoint)}&taskhub=${taskHub}' : ''
output EFFECTIVE_MAXIMUM_INSTANCE_COUNT int = effectiveMaximumInstanceCount
output AZURE_VAULT_NAME string = vault.outputs.vaultName
output AUTH_AUDIENCE string = empty(authAudience) ? 'api://pixcrawler-${environmentName}' : authAudience
output AZURE_WORKBOOK_ID string = workbook.outputs.id
