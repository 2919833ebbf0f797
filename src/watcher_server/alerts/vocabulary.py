"""The words of alerts: kinds, events, levels and delivery states (contract §3, §12)."""

KINDS = ("freshness", "timeliness", "execution_failure", "anomaly", "queue")
EVENTS = ("opened", "recovered", "failed", "anomaly")
LEVELS = ("info", "warning", "error", "critical", "success")
# digested: sent as one line of a digest message (alert.digest_id), the channel being over its rate limit
DELIVERY_STATUSES = ("pending", "sent", "retrying", "failed", "not_configured", "digested")
UNDELIVERED = ("pending", "retrying")  # still to be sent
# The same condition as SQL text, for the partial index and for queries that must match it literally
# (PostgreSQL uses a partial index only when it can prove the query's condition implies the index's).
UNDELIVERED_SQL = "delivery_status IN ('pending', 'retrying')"
# The undelivered members of digests (partial index ix_alert_digest_undelivered, migration 0010).
DIGEST_UNDELIVERED_SQL = f"digest_id IS NOT NULL AND {UNDELIVERED_SQL}"
