"""Pipeline types and pipelines: the registry."""
