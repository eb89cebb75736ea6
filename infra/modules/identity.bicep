// The one identity of the Function App. Every data-plane permission is granted to it (rbac.bicep),
// and every identity-based connection names its client id: no keys, no connection strings.

@description('Name of the user-assigned managed identity')
param name string

param location string = resourceGroup().location
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
