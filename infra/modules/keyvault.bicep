// Key Vault in RBAC mode: the configuration the app must not carry in plain app settings.
// The Function App reads each value through a Key Vault reference
// (@Microsoft.KeyVault(VaultName=...;SecretName=...)) resolved with its user-assigned identity,
// which holds Key Vault Secrets User on this vault (rbac.bicep). Access policies are not used.
//
// Secrets written here:
//   auth-oidc-issuer, auth-jwks-url, auth-audience  -> PIXCRAWLER_AUTH_*  (always)
//   flickr-api-key, google-api-key                  -> PIXCRAWLER_*_API_KEY (only when given)
// References are versionless: a value rotated in the vault (az keyvault secret set) reaches the
// app on its next restart. The next `azd provision` writes the azd environment's value again,
// so rotate there too (docs/deploy.md).

param name string
param location string = resourceGroup().location
param tags object = {}

@description('OIDC issuer the app trusts (Entra ID: https://login.microsoftonline.com/TENANT/v2.0)')
param authOidcIssuer string

@description('JWKS URL of that issuer')
param authJwksUrl string

@description('Audience the tokens must carry (the app registration\'s Application ID URI or client id)')
param authAudience string

@secure()
@description('Flickr API key; empty = not stored here')
param flickrApiKey string = ''

@secure()
@description('Google Custom Search API key; empty = not stored here')
param googleApiKey string = ''

@description('Purge protection: a deleted vault (and its secrets) cannot be purged during its retention')
param purgeProtection bool = true

// A vault deleted by `azd down` stays soft-deleted for softDeleteRetentionInDays and keeps its
// name (purge protection forbids purging it): creating it again fails with a name conflict.
// 'recover' brings the soft-deleted vault back (with its secrets, which are then rewritten below).
@description('default: create the vault. recover: restore the soft-deleted vault of the same name')
@allowed([
  'default'
  'recover'
])
param createMode string = 'default'

@description('false = no access from public networks: the private endpoint, and trusted Azure services (Resource Manager writing the secrets below)')
param publicNetworkAccess bool = true

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    createMode: createMode
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: publicNetworkAccess ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource authIssuer 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'auth-oidc-issuer'
  properties: {
    value: authOidcIssuer
    contentType: 'text/plain'
  }
}

resource authJwks 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'auth-jwks-url'
  properties: {
    value: authJwksUrl
    contentType: 'text/plain'
  }
}

resource authAud 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'auth-audience'
  properties: {
    value: authAudience
    contentType: 'text/plain'
  }
}

resource flickr 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(flickrApiKey)) {
  parent: vault
  name: 'flickr-api-key'
  properties: {
    value: flickrApiKey
    contentType: 'text/plain'
  }
}

resource google 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(googleApiKey)) {
  parent: vault
  name: 'google-api-key'
  properties: {
    value: googleApiKey
    contentType: 'text/plain'
  }
}

output vaultName string = vault.name
output vaultUri string = vault.properties.vaultUri
