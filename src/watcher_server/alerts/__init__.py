"""Alerts: the outbox and its delivery channels."""
