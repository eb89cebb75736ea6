"""The crawl: a job's lifecycle (jobs), its download batches (batches), their failure logs,
the running-job slots per user, and the search sources."""
