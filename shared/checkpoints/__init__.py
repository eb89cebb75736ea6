"""Checkpoints: reading a job's (live or archived), the snapshots in Blob, the timers' housekeeping and the admin statistics."""
