"""What belongs to a user: API keys (their material and records) and notifications."""
