"""Names of the storage the app uses: Cosmos containers with their partition keys, and Blob
containers. infra/ provisions exactly these (a contract test checks it)."""

COSMOS_DATABASE_DEFAULT = "pixcrawler"

#: Cosmos container name -> partition key path.
COSMOS_CONTAINERS: dict[str, str] = {
    "jobs": "/user_id",
    "images": "/job_id",
    "datasets": "/user_id",
    "api_keys": "/user_id",
    "notifications": "/user_id",
    "rate_limits": "/user_id",
}

#: Blob containers.
BLOB_CONTAINERS: tuple[str, ...] = ("images", "datasets", "checkpoints")
