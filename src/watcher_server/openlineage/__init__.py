"""OpenLineage events in: jobs become pipelines, runs executions, datasets addresses and lineage."""
