"""Read models for the web pages: one module per page, each a few set-based queries (never one per
row) over the domain tables, returning plain dicts and rows for the templates."""
