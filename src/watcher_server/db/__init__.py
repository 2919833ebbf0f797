"""Storage: engine and transactions, portable column types, the schema and its migrations."""
