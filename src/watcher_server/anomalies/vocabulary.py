"""The words of anomaly rules: the metrics they watch, the directions they fire in, their seasons (contract §13.1)."""

METRICS = ("duration_seconds", "inserts", "updates", "soft_deletes", "total_rows", "throughput")
DIRECTIONS = ("both", "spike", "drop")
SEASONALITIES = ("hour_of_day", "day_of_week", "none")
# How an anomaly incident ended: a later run was normal; its last flagged run was unflagged; its rule
# was deactivated or moved to another pipeline or metric.
INCIDENT_RESOLUTIONS = ("recovered", "unflagged", "unmonitored")
