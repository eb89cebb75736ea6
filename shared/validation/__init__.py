"""Validation of a job's images at a level (levels) and the near-duplicate search (dedupe, its
stages and the banding index they compute with)."""
