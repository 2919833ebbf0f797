"""Anomaly detection: rules, detection after each successful end, results (contract §13)."""
