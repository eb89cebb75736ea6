"""Verifying a job's images: every record's bytes checked, lost ones fetched again or marked."""
