"""Review of a job's images: pages, curation, near-duplicate groups, thumbnails."""
