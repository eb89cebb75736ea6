// network = 'private': a VNet with two subnets, a private endpoint for every data service, and
// the private DNS zones that make their public host names resolve to those endpoints inside the
// VNet. The Function App joins the `app` subnet (Flex Consumption VNet integration, delegated to
// Microsoft.App/environments) and reaches Storage, Cosmos DB, Key Vault and the scheduler
// privately; each of them has public network access off (their own modules).
//
//   <prefix>.0.0/24   app                 Flex Consumption VNet integration
//   <prefix>.1.0/24   private-endpoints   one endpoint per service (group ids below)

param name string
param location string = resourceGroup().location
param tags object = {}

@description('Address space of the VNet, a /16 (its first two /24 become the subnets)')
param addressPrefix string = '10.40.0.0/16'

param storageAccountName string
param cosmosAccountName string
param vaultName string

@description('Durable Task Scheduler name; empty = storage backend (no scheduler endpoint)')
param schedulerName string = ''

var base = split(split(addressPrefix, '/')[0], '.')
var appSubnetPrefix = '${base[0]}.${base[1]}.0.0/24'
var endpointSubnetPrefix = '${base[0]}.${base[1]}.1.0/24'
var appSubnetId = resourceId('Microsoft.Network/virtualNetworks/subnets', name, 'app')
var endpointSubnetId = resourceId('Microsoft.Network/virtualNetworks/subnets', name, 'private-endpoints')

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' existing = {
  name: cosmosAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' existing = if (!empty(schedulerName)) {
  name: empty(schedulerName) ? 'none' : schedulerName
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: endpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

// Private endpoint -> (target, sub-resource, private DNS zone).
var storageEndpoints = [
  {
    name: 'blob'
    groupId: 'blob'
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'queue'
    groupId: 'queue'
    zone: 'privatelink.queue.${environment().suffixes.storage}'
  }
  {
    name: 'table'
    groupId: 'table'
    zone: 'privatelink.table.${environment().suffixes.storage}'
  }
]
var endpoints = concat(
  map(storageEndpoints, e => union(e, {
    target: storage.id
  })),
  [
    {
      name: 'cosmos'
      groupId: 'Sql'
      zone: 'privatelink.documents.azure.com'
      target: cosmos.id
    }
    {
      name: 'vault'
      groupId: 'vault'
      zone: 'privatelink.vaultcore.azure.net'
      target: vault.id
    }
  ],
  empty(schedulerName) ? [] : [
    {
      name: 'scheduler'
      groupId: 'scheduler'
      zone: 'privatelink.durabletask.io'
      target: scheduler.id
    }
  ]
)

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for e in endpoints: {
    name: e.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (e, i) in endpoints: {
    parent: zones[i]
    name: '${name}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for e in endpoints: {
    name: 'pe-${e.name}-${name}'
    location: location
    tags: tags
    dependsOn: [
      vnet
    ]
    properties: {
      subnet: {
        id: endpointSubnetId
      }
      privateLinkServiceConnections: [
        {
          name: e.name
          properties: {
            privateLinkServiceId: e.target
            groupIds: [
              e.groupId
            ]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (e, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: e.name
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]

output vnetId string = vnet.id
output appSubnetId string = appSubnetId
output endpointSubnetId string = endpointSubnetId
