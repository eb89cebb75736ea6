// Cosmos DB for NoSQL: database `pixcrawler` and the containers of shared/names.py with the same
// partition keys. Keys are disabled (disableLocalAuth): the app reaches the account with its
// managed identity through a Cosmos SQL role assignment (rbac.bicep).

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Database name (PIXCRAWLER_COSMOS_DATABASE)')
param databaseName string = 'pixcrawler'

@description('Serverless (pay per request, no throughput to plan). false = provisioned autoscale.')
param serverless bool = true

@description('Autoscale ceiling of the shared database throughput, used only when serverless is false')
@minValue(1000)
@maxValue(1000000)
param autoscaleMaxThroughput int = 4000

@description('false = reachable only through its private endpoint')
param publicNetworkAccess bool = true

// Indexing: everything is indexed except the large paths no query reads; each skipped path lowers
// the RU charge of every write. The composite indexes serve the list queries
// (filter on status / label / flags, ORDER BY created_at) without a cross-index sort.
var jobsIndexing = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    {
      path: '/*'
    }
  ]
  excludedPaths: [
    {
      path: '/sources/*' // a `urls` source carries up to 100,000 URLs
    }
    {
      path: '/task_ids/*'
    }
    {
      path: '/error/?'
    }
    {
      path: '/"_etag"/?'
    }
  ]
  compositeIndexes: [
    [
      {
        path: '/user_id'
        order: 'ascending'
      }
      {
        path: '/created_at'
        order: 'descending'
      }
    ]
    [
      {
        path: '/status'
        order: 'ascending'
      }
      {
        path: '/created_at'
        order: 'descending'
      }
    ]
  ]
}

var imagesIndexing = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    {
      path: '/*'
    }
  ]
  excludedPaths: [
    {
      path: '/validation/*' // per-check booleans and scores: read with the record, never filtered
    }
    {
      path: '/windows/*' // sub-window pHashes for crop detection: compared in memory, never queried
    }
    {
      path: '/origin/*'
    }
    {
      path: '/url/?'
    }
    {
      path: '/page_url/?'
    }
    {
      path: '/title/?'
    }
    {
      path: '/attribution/?'
    }
    {
      path: '/blob_name/?'
    }
    {
      path: '/"_etag"/?'
    }
  ]
  compositeIndexes: [
    [
      {
        path: '/label'
        order: 'ascending'
      }
      {
        path: '/created_at'
        order: 'ascending'
      }
    ]
    [
      {
        path: '/is_valid'
        order: 'ascending'
      }
      {
        path: '/is_duplicate'
        order: 'ascending'
      }
      {
        path: '/created_at'
        order: 'ascending'
      }
    ]
    [
      {
        path: '/label'
        order: 'ascending'
      }
      {
        path: '/is_valid'
        order: 'ascending'
      }
      {
        path: '/is_duplicate'
        order: 'ascending'
      }
    ]
  ]
}

var defaultIndexing = {
  indexingMode: 'consistent'
  automatic: true
  includedPaths: [
    {
      path: '/*'
    }
  ]
  excludedPaths: [
    {
      path: '/"_etag"/?'
    }
  ]
}

// shared/names.py COSMOS_CONTAINERS: name -> partition key path. `defaultTtl` appears only on the
// containers whose documents may expire (-1 = TTL on, per document `ttl`); the others leave it
// out entirely (a null TTL would be sent to the resource provider as a value).
var containerSpecs = [
  {
    name: 'jobs'
    partitionKey: '/user_id'
    indexingPolicy: jobsIndexing
  }
  {
    name: 'images'
    partitionKey: '/job_id'
    indexingPolicy: imagesIndexing
  }
  {
    name: 'datasets'
    partitionKey: '/user_id'
    indexingPolicy: defaultIndexing
  }
  {
    name: 'api_keys'
    partitionKey: '/user_id'
    indexingPolicy: defaultIndexing
  }
  {
    name: 'notifications'
    partitionKey: '/user_id'
    indexingPolicy: defaultIndexing
    defaultTtl: -1 // TTL on, per document: a document with `ttl` expires
  }
  {
    name: 'rate_limits'
    partitionKey: '/user_id'
    indexingPolicy: defaultIndexing
    defaultTtl: -1 // counters of past windows can carry a `ttl` and vanish
  }
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: publicNetworkAccess ? 'Enabled' : 'Disabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [
  for spec in containerSpecs: {
    parent: database
    name: spec.name
    properties: {
      resource: union(
        {
          id: spec.name
          partitionKey: {
            paths: [
              spec.partitionKey
            ]
            kind: 'Hash'
            version: 2
          }
          indexingPolicy: spec.indexingPolicy
        },
        contains(spec, 'defaultTtl') ? {
          defaultTtl: spec.defaultTtl
        } : {}
      )
    }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
