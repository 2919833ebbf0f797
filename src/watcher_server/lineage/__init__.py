"""Address types, addresses and address lineage."""
