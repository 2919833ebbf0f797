"""One module per page (or family of pages); each has a `router` that web/router.py mounts."""
