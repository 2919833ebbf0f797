"""Watcher server: a metadata and observability server for data pipelines."""

__version__ = "0.1.0"
