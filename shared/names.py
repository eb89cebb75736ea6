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

#: Blob container of image shards, thumbnails, failure logs and the near-duplicate search's
#: scratch blobs, each under its job's prefix.
IMAGES_CONTAINER = "images"
#: Blob container of built datasets and their parts.
DATASETS_CONTAINER = "datasets"
#: Blob container of archived checkpoint snapshots.
CHECKPOINTS_CONTAINER = "checkpoints"

#: Content type of the newline-delimited JSON blobs (failure logs, dataset parts).
NDJSON_CONTENT_TYPE = "application/x-ndjson"

#: Blob containers.
BLOB_CONTAINERS: tuple[str, ...] = (IMAGES_CONTAINER, DATASETS_CONTAINER, CHECKPOINTS_CONTAINER)
