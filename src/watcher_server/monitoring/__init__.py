"""Freshness, timeliness, anomaly detection and log cleanup."""
