"""Pure rules shared by every domain: value parsing, normalisation, formatting."""
