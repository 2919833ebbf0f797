"""Background jobs: definitions and their runners."""
