"""Initial schema: registry, executions and their closure, lineage edges, monitoring, alerts, job claims.

The DDL is frozen here per dialect, so this migration never changes when the table definitions
in the domain packages evolve; later changes arrive as new migrations.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = [
    "address_type",
    "alert",
    "periodic_run",
    "pipeline_type",
    "address",
    "alert_subject",
    "pipeline",
    "address_lineage",
    "anomaly_detection_rule",
    "freshness_pipeline_log",
    "pipeline_execution",
    "anomaly_detection_result",
    "pipeline_execution_closure",
    "timeliness_pipeline_execution_log",
]

POSTGRESQL = [
    """
CREATE TABLE address_type (
    id SERIAL NOT NULL,
    name VARCHAR(150) NOT NULL,
    group_name VARCHAR(150) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_address_type PRIMARY KEY (id),
    CONSTRAINT uq_address_type_name UNIQUE (name)
)
    """,
    """
CREATE TABLE alert (
    id BIGSERIAL NOT NULL,
    kind VARCHAR(20) NOT NULL CONSTRAINT ck_alert_kind_enum CHECK (kind IN ('freshness', 'timeliness', 'execution_failure', 'anomaly', 'queue')),
    event VARCHAR(20) NOT NULL CONSTRAINT ck_alert_event_enum CHECK (event IN ('opened', 'recovered', 'failed', 'anomaly')),
    level VARCHAR(20) NOT NULL CONSTRAINT ck_alert_level_enum CHECK (level IN ('info', 'warning', 'error', 'critical', 'success')),
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    details JSONB,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    delivery_status VARCHAR(20) DEFAULT 'pending' NOT NULL CONSTRAINT ck_alert_delivery_status_enum CHECK (delivery_status IN ('pending', 'sent', 'retrying', 'failed', 'not_configured')),
    delivery_attempts INTEGER DEFAULT 0 NOT NULL,
    delivery_error TEXT,
    sent_at TIMESTAMP WITH TIME ZONE,
    next_attempt_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_alert PRIMARY KEY (id)
)
    """,
    """
CREATE INDEX ix_alert_created_at ON alert (created_at)
    """,
    """
CREATE INDEX ix_alert_undelivered ON alert (next_attempt_at) WHERE delivery_status IN ('pending', 'retrying')
    """,
    """
CREATE TABLE periodic_run (
    job VARCHAR(50) NOT NULL,
    scheduled_for TIMESTAMP WITH TIME ZONE NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    finished_at TIMESTAMP WITH TIME ZONE,
    outcome JSONB,
    CONSTRAINT pk_periodic_run PRIMARY KEY (job, scheduled_for)
)
    """,
    """
CREATE TABLE pipeline_type (
    id SERIAL NOT NULL,
    name VARCHAR(150) NOT NULL,
    freshness_number INTEGER CONSTRAINT ck_pipeline_type_freshness_number_positive CHECK (freshness_number > 0),
    freshness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_type_freshness_datepart_enum CHECK (freshness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_freshness_check BOOLEAN DEFAULT false NOT NULL,
    timeliness_number INTEGER CONSTRAINT ck_pipeline_type_timeliness_number_positive CHECK (timeliness_number > 0),
    timeliness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_type_timeliness_datepart_enum CHECK (timeliness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_timeliness_check BOOLEAN DEFAULT false NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_pipeline_type PRIMARY KEY (id),
    CONSTRAINT uq_pipeline_type_name UNIQUE (name)
)
    """,
    """
CREATE TABLE address (
    id SERIAL NOT NULL,
    name VARCHAR(150) NOT NULL,
    address_type_id INTEGER NOT NULL,
    database_name VARCHAR(150),
    schema_name VARCHAR(150),
    table_name VARCHAR(150),
    primary_key VARCHAR(150),
    address_metadata JSONB,
    input_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_address PRIMARY KEY (id),
    CONSTRAINT uq_address_name UNIQUE (name),
    CONSTRAINT fk_address_address_type_id_address_type FOREIGN KEY(address_type_id) REFERENCES address_type (id)
)
    """,
    """
CREATE INDEX ix_address_address_type_id ON address (address_type_id)
    """,
    """
CREATE TABLE alert_subject (
    alert_id BIGINT NOT NULL,
    pipeline_id INTEGER,
    pipeline_execution_id BIGINT,
    CONSTRAINT fk_alert_subject_alert_id_alert FOREIGN KEY(alert_id) REFERENCES alert (id) ON DELETE CASCADE
)
    """,
    """
CREATE INDEX ix_alert_subject_alert_id ON alert_subject (alert_id)
    """,
    """
CREATE INDEX ix_alert_subject_pipeline_execution_id ON alert_subject (pipeline_execution_id)
    """,
    """
CREATE INDEX ix_alert_subject_pipeline_id ON alert_subject (pipeline_id)
    """,
    """
CREATE TABLE pipeline (
    id SERIAL NOT NULL,
    name VARCHAR(150) NOT NULL,
    pipeline_type_id INTEGER NOT NULL,
    watermark VARCHAR(255),
    next_watermark VARCHAR(255),
    pipeline_metadata JSONB,
    last_target_insert TIMESTAMP WITH TIME ZONE,
    last_target_update TIMESTAMP WITH TIME ZONE,
    last_target_soft_delete TIMESTAMP WITH TIME ZONE,
    freshness_number INTEGER CONSTRAINT ck_pipeline_freshness_number_positive CHECK (freshness_number > 0),
    freshness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_freshness_datepart_enum CHECK (freshness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_freshness_check BOOLEAN DEFAULT false NOT NULL,
    timeliness_number INTEGER CONSTRAINT ck_pipeline_timeliness_number_positive CHECK (timeliness_number > 0),
    timeliness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_timeliness_datepart_enum CHECK (timeliness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_timeliness_check BOOLEAN DEFAULT false NOT NULL,
    load_lineage BOOLEAN DEFAULT true NOT NULL,
    active BOOLEAN DEFAULT true NOT NULL,
    input_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_pipeline PRIMARY KEY (id),
    CONSTRAINT uq_pipeline_name UNIQUE (name),
    CONSTRAINT fk_pipeline_pipeline_type_id_pipeline_type FOREIGN KEY(pipeline_type_id) REFERENCES pipeline_type (id)
)
    """,
    """
CREATE INDEX ix_pipeline_active ON pipeline (active)
    """,
    """
CREATE INDEX ix_pipeline_pipeline_type_id ON pipeline (pipeline_type_id)
    """,
    """
CREATE TABLE address_lineage (
    id BIGSERIAL NOT NULL,
    pipeline_id INTEGER NOT NULL,
    source_address_id INTEGER NOT NULL,
    target_address_id INTEGER NOT NULL,
    CONSTRAINT pk_address_lineage PRIMARY KEY (id),
    CONSTRAINT uq_address_lineage_pipeline_id_source_address_id_target_564c UNIQUE (pipeline_id, source_address_id, target_address_id),
    CONSTRAINT fk_address_lineage_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id),
    CONSTRAINT fk_address_lineage_source_address_id_address FOREIGN KEY(source_address_id) REFERENCES address (id),
    CONSTRAINT fk_address_lineage_target_address_id_address FOREIGN KEY(target_address_id) REFERENCES address (id)
)
    """,
    """
CREATE INDEX ix_address_lineage_source_target ON address_lineage (source_address_id, target_address_id)
    """,
    """
CREATE INDEX ix_address_lineage_target_source ON address_lineage (target_address_id, source_address_id)
    """,
    """
CREATE TABLE anomaly_detection_rule (
    id SERIAL NOT NULL,
    pipeline_id INTEGER NOT NULL,
    metric_field VARCHAR(30) NOT NULL CONSTRAINT ck_anomaly_detection_rule_metric_field_enum CHECK (metric_field IN ('duration_seconds', 'inserts', 'updates', 'soft_deletes', 'total_rows', 'throughput')),
    z_threshold NUMERIC(4, 2) DEFAULT 3.00 NOT NULL,
    lookback_days INTEGER DEFAULT 30 NOT NULL,
    minimum_executions INTEGER DEFAULT 30 NOT NULL,
    direction VARCHAR(10) DEFAULT 'both' NOT NULL CONSTRAINT ck_anomaly_detection_rule_direction_enum CHECK (direction IN ('both', 'spike', 'drop')),
    seasonality VARCHAR(20) DEFAULT 'hour_of_day' NOT NULL CONSTRAINT ck_anomaly_detection_rule_seasonality_enum CHECK (seasonality IN ('hour_of_day', 'day_of_week', 'none')),
    active BOOLEAN DEFAULT true NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_anomaly_detection_rule PRIMARY KEY (id),
    CONSTRAINT uq_anomaly_detection_rule_pipeline_id_metric_field UNIQUE (pipeline_id, metric_field),
    CONSTRAINT fk_anomaly_detection_rule_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_anomaly_detection_rule_pipeline_id_active ON anomaly_detection_rule (pipeline_id, active)
    """,
    """
CREATE TABLE freshness_pipeline_log (
    id BIGSERIAL NOT NULL,
    pipeline_id INTEGER NOT NULL,
    last_dml_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    evaluation_timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    last_evaluated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    deadline TIMESTAMP WITH TIME ZONE NOT NULL,
    freshness_number INTEGER NOT NULL,
    freshness_datepart VARCHAR(20) NOT NULL CONSTRAINT ck_freshness_pipeline_log_freshness_datepart_enum CHECK (freshness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    used_child_config BOOLEAN NOT NULL,
    resolved_at TIMESTAMP WITH TIME ZONE,
    resolution VARCHAR(20) CONSTRAINT ck_freshness_pipeline_log_resolution_enum CHECK (resolution IN ('recovered', 'unmonitored')),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT pk_freshness_pipeline_log PRIMARY KEY (id),
    CONSTRAINT fk_freshness_pipeline_log_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_freshness_pipeline_log_resolved_at ON freshness_pipeline_log (resolved_at)
    """,
    """
CREATE UNIQUE INDEX uq_freshness_pipeline_log_open ON freshness_pipeline_log (pipeline_id) WHERE resolved_at IS NULL
    """,
    """
CREATE TABLE pipeline_execution (
    id BIGSERIAL NOT NULL,
    parent_id BIGINT,
    pipeline_id INTEGER NOT NULL,
    start_date TIMESTAMP WITH TIME ZONE NOT NULL,
    date_recorded DATE NOT NULL,
    hour_recorded INTEGER NOT NULL,
    weekday_recorded INTEGER NOT NULL,
    end_date TIMESTAMP WITH TIME ZONE,
    duration_seconds BIGINT,
    completed_successfully BOOLEAN,
    inserts BIGINT CONSTRAINT ck_pipeline_execution_inserts_non_negative CHECK (inserts >= 0),
    updates BIGINT CONSTRAINT ck_pipeline_execution_updates_non_negative CHECK (updates >= 0),
    soft_deletes BIGINT CONSTRAINT ck_pipeline_execution_soft_deletes_non_negative CHECK (soft_deletes >= 0),
    total_rows BIGINT CONSTRAINT ck_pipeline_execution_total_rows_non_negative CHECK (total_rows >= 0),
    watermark VARCHAR(255),
    next_watermark VARCHAR(255),
    execution_metadata JSONB,
    anomaly_flags JSONB,
    throughput DOUBLE PRECISION,
    anomaly_checked_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_pipeline_execution PRIMARY KEY (id),
    CONSTRAINT ck_pipeline_execution_end_after_start CHECK (end_date IS NULL OR end_date > start_date),
    CONSTRAINT ck_pipeline_execution_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id),
    CONSTRAINT fk_pipeline_execution_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_pipeline_execution_anomaly_pending ON pipeline_execution (id) WHERE completed_successfully AND anomaly_checked_at IS NULL
    """,
    """
CREATE INDEX ix_pipeline_execution_date_recorded_pipeline_id ON pipeline_execution (date_recorded, pipeline_id)
    """,
    """
CREATE INDEX ix_pipeline_execution_parent_id ON pipeline_execution (parent_id)
    """,
    """
CREATE INDEX ix_pipeline_execution_pipeline_id_hour_recorded_end_date ON pipeline_execution (pipeline_id, hour_recorded, end_date)
    """,
    """
CREATE INDEX ix_pipeline_execution_pipeline_id_start_date ON pipeline_execution (pipeline_id, start_date)
    """,
    """
CREATE INDEX ix_pipeline_execution_pipeline_id_weekday_recorded_end_date ON pipeline_execution (pipeline_id, weekday_recorded, end_date)
    """,
    """
CREATE INDEX ix_pipeline_execution_running ON pipeline_execution (start_date) WHERE completed_successfully IS NULL
    """,
    """
CREATE INDEX ix_pipeline_execution_start_date ON pipeline_execution (start_date)
    """,
    """
CREATE TABLE anomaly_detection_result (
    pipeline_execution_id BIGINT NOT NULL,
    rule_id INTEGER NOT NULL,
    pipeline_id INTEGER NOT NULL,
    metric_field VARCHAR(30) NOT NULL,
    direction VARCHAR(10) NOT NULL,
    seasonality VARCHAR(20) NOT NULL,
    violation_value DOUBLE PRECISION,
    z_score DOUBLE PRECISION,
    historical_mean DOUBLE PRECISION,
    std_deviation_value DOUBLE PRECISION,
    z_threshold DOUBLE PRECISION,
    threshold_min_value DOUBLE PRECISION,
    threshold_max_value DOUBLE PRECISION,
    context JSONB,
    detected_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_anomaly_detection_result PRIMARY KEY (pipeline_execution_id, rule_id),
    CONSTRAINT fk_anomaly_detection_result_pipeline_execution_id_pipel_6dc6 FOREIGN KEY(pipeline_execution_id) REFERENCES pipeline_execution (id),
    CONSTRAINT fk_anomaly_detection_result_rule_id_anomaly_detection_rule FOREIGN KEY(rule_id) REFERENCES anomaly_detection_rule (id)
)
    """,
    """
CREATE INDEX ix_anomaly_detection_result_pipeline_id_detected_at ON anomaly_detection_result (pipeline_id, detected_at)
    """,
    """
CREATE TABLE pipeline_execution_closure (
    parent_execution_id BIGINT NOT NULL,
    child_execution_id BIGINT NOT NULL,
    depth INTEGER NOT NULL,
    CONSTRAINT pk_pipeline_execution_closure PRIMARY KEY (parent_execution_id, child_execution_id),
    CONSTRAINT fk_pipeline_execution_closure_parent_execution_id_pipel_055d FOREIGN KEY(parent_execution_id) REFERENCES pipeline_execution (id),
    CONSTRAINT fk_pipeline_execution_closure_child_execution_id_pipeli_66dc FOREIGN KEY(child_execution_id) REFERENCES pipeline_execution (id)
)
    """,
    """
CREATE INDEX ix_pipeline_execution_closure_child_depth ON pipeline_execution_closure (child_execution_id, depth)
    """,
    """
CREATE INDEX ix_pipeline_execution_closure_parent_depth ON pipeline_execution_closure (parent_execution_id, depth)
    """,
    """
CREATE TABLE timeliness_pipeline_execution_log (
    pipeline_execution_id BIGINT NOT NULL,
    pipeline_id INTEGER NOT NULL,
    execution_status VARCHAR(20) NOT NULL CONSTRAINT ck_timeliness_pipeline_execution_log_execution_status_enum CHECK (execution_status IN ('running', 'completed', 'failed')),
    duration_seconds BIGINT NOT NULL,
    seconds_threshold BIGINT,
    timely_number INTEGER,
    timely_datepart VARCHAR(20) CONSTRAINT ck_timeliness_pipeline_execution_log_timely_datepart_enum CHECK (timely_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    used_child_config BOOLEAN,
    final_status VARCHAR(20) CONSTRAINT ck_timeliness_pipeline_execution_log_final_status_enum CHECK (final_status IN ('completed', 'failed')),
    resolved_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT pk_timeliness_pipeline_execution_log PRIMARY KEY (pipeline_execution_id),
    CONSTRAINT fk_timeliness_pipeline_execution_log_pipeline_execution_1d39 FOREIGN KEY(pipeline_execution_id) REFERENCES pipeline_execution (id),
    CONSTRAINT fk_timeliness_pipeline_execution_log_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_timeliness_pipeline_execution_log_open ON timeliness_pipeline_execution_log (pipeline_execution_id) WHERE resolved_at IS NULL
    """,
]

SQLITE = [
    """
CREATE TABLE address_type (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(150) NOT NULL,
    group_name VARCHAR(150) NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at DATETIME,
    CONSTRAINT uq_address_type_name UNIQUE (name)
)
    """,
    """
CREATE TABLE alert (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind VARCHAR(20) NOT NULL CONSTRAINT ck_alert_kind_enum CHECK (kind IN ('freshness', 'timeliness', 'execution_failure', 'anomaly', 'queue')),
    event VARCHAR(20) NOT NULL CONSTRAINT ck_alert_event_enum CHECK (event IN ('opened', 'recovered', 'failed', 'anomaly')),
    level VARCHAR(20) NOT NULL CONSTRAINT ck_alert_level_enum CHECK (level IN ('info', 'warning', 'error', 'critical', 'success')),
    title TEXT NOT NULL,
    message TEXT NOT NULL,
    details JSON,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    delivery_status VARCHAR(20) DEFAULT 'pending' NOT NULL CONSTRAINT ck_alert_delivery_status_enum CHECK (delivery_status IN ('pending', 'sent', 'retrying', 'failed', 'not_configured')),
    delivery_attempts INTEGER DEFAULT 0 NOT NULL,
    delivery_error TEXT,
    sent_at DATETIME,
    next_attempt_at DATETIME
)
    """,
    """
CREATE INDEX ix_alert_created_at ON alert (created_at)
    """,
    """
CREATE INDEX ix_alert_undelivered ON alert (next_attempt_at) WHERE delivery_status IN ('pending', 'retrying')
    """,
    """
CREATE TABLE periodic_run (
    job VARCHAR(50) NOT NULL,
    scheduled_for DATETIME NOT NULL,
    started_at DATETIME NOT NULL,
    finished_at DATETIME,
    outcome JSON,
    CONSTRAINT pk_periodic_run PRIMARY KEY (job, scheduled_for)
)
    """,
    """
CREATE TABLE pipeline_type (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(150) NOT NULL,
    freshness_number INTEGER CONSTRAINT ck_pipeline_type_freshness_number_positive CHECK (freshness_number > 0),
    freshness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_type_freshness_datepart_enum CHECK (freshness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_freshness_check BOOLEAN DEFAULT 0 NOT NULL,
    timeliness_number INTEGER CONSTRAINT ck_pipeline_type_timeliness_number_positive CHECK (timeliness_number > 0),
    timeliness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_type_timeliness_datepart_enum CHECK (timeliness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_timeliness_check BOOLEAN DEFAULT 0 NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at DATETIME,
    CONSTRAINT uq_pipeline_type_name UNIQUE (name)
)
    """,
    """
CREATE TABLE address (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(150) NOT NULL,
    address_type_id INTEGER NOT NULL,
    database_name VARCHAR(150),
    schema_name VARCHAR(150),
    table_name VARCHAR(150),
    primary_key VARCHAR(150),
    address_metadata JSON,
    input_hash VARCHAR(64) NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at DATETIME,
    CONSTRAINT uq_address_name UNIQUE (name),
    CONSTRAINT fk_address_address_type_id_address_type FOREIGN KEY(address_type_id) REFERENCES address_type (id)
)
    """,
    """
CREATE INDEX ix_address_address_type_id ON address (address_type_id)
    """,
    """
CREATE TABLE alert_subject (
    alert_id INTEGER NOT NULL,
    pipeline_id INTEGER,
    pipeline_execution_id INTEGER,
    CONSTRAINT fk_alert_subject_alert_id_alert FOREIGN KEY(alert_id) REFERENCES alert (id) ON DELETE CASCADE
)
    """,
    """
CREATE INDEX ix_alert_subject_alert_id ON alert_subject (alert_id)
    """,
    """
CREATE INDEX ix_alert_subject_pipeline_execution_id ON alert_subject (pipeline_execution_id)
    """,
    """
CREATE INDEX ix_alert_subject_pipeline_id ON alert_subject (pipeline_id)
    """,
    """
CREATE TABLE pipeline (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(150) NOT NULL,
    pipeline_type_id INTEGER NOT NULL,
    watermark VARCHAR(255),
    next_watermark VARCHAR(255),
    pipeline_metadata JSON,
    last_target_insert DATETIME,
    last_target_update DATETIME,
    last_target_soft_delete DATETIME,
    freshness_number INTEGER CONSTRAINT ck_pipeline_freshness_number_positive CHECK (freshness_number > 0),
    freshness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_freshness_datepart_enum CHECK (freshness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_freshness_check BOOLEAN DEFAULT 0 NOT NULL,
    timeliness_number INTEGER CONSTRAINT ck_pipeline_timeliness_number_positive CHECK (timeliness_number > 0),
    timeliness_datepart VARCHAR(20) CONSTRAINT ck_pipeline_timeliness_datepart_enum CHECK (timeliness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    mute_timeliness_check BOOLEAN DEFAULT 0 NOT NULL,
    load_lineage BOOLEAN DEFAULT 1 NOT NULL,
    active BOOLEAN DEFAULT 1 NOT NULL,
    input_hash VARCHAR(64) NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at DATETIME,
    CONSTRAINT uq_pipeline_name UNIQUE (name),
    CONSTRAINT fk_pipeline_pipeline_type_id_pipeline_type FOREIGN KEY(pipeline_type_id) REFERENCES pipeline_type (id)
)
    """,
    """
CREATE INDEX ix_pipeline_active ON pipeline (active)
    """,
    """
CREATE INDEX ix_pipeline_pipeline_type_id ON pipeline (pipeline_type_id)
    """,
    """
CREATE TABLE address_lineage (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    pipeline_id INTEGER NOT NULL,
    source_address_id INTEGER NOT NULL,
    target_address_id INTEGER NOT NULL,
    CONSTRAINT uq_address_lineage_pipeline_id_source_address_id_target_address_id UNIQUE (pipeline_id, source_address_id, target_address_id),
    CONSTRAINT fk_address_lineage_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id),
    CONSTRAINT fk_address_lineage_source_address_id_address FOREIGN KEY(source_address_id) REFERENCES address (id),
    CONSTRAINT fk_address_lineage_target_address_id_address FOREIGN KEY(target_address_id) REFERENCES address (id)
)
    """,
    """
CREATE INDEX ix_address_lineage_source_target ON address_lineage (source_address_id, target_address_id)
    """,
    """
CREATE INDEX ix_address_lineage_target_source ON address_lineage (target_address_id, source_address_id)
    """,
    """
CREATE TABLE anomaly_detection_rule (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    pipeline_id INTEGER NOT NULL,
    metric_field VARCHAR(30) NOT NULL CONSTRAINT ck_anomaly_detection_rule_metric_field_enum CHECK (metric_field IN ('duration_seconds', 'inserts', 'updates', 'soft_deletes', 'total_rows', 'throughput')),
    z_threshold NUMERIC(4, 2) DEFAULT (3.00) NOT NULL,
    lookback_days INTEGER DEFAULT 30 NOT NULL,
    minimum_executions INTEGER DEFAULT 30 NOT NULL,
    direction VARCHAR(10) DEFAULT 'both' NOT NULL CONSTRAINT ck_anomaly_detection_rule_direction_enum CHECK (direction IN ('both', 'spike', 'drop')),
    seasonality VARCHAR(20) DEFAULT 'hour_of_day' NOT NULL CONSTRAINT ck_anomaly_detection_rule_seasonality_enum CHECK (seasonality IN ('hour_of_day', 'day_of_week', 'none')),
    active BOOLEAN DEFAULT 1 NOT NULL,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at DATETIME,
    CONSTRAINT uq_anomaly_detection_rule_pipeline_id_metric_field UNIQUE (pipeline_id, metric_field),
    CONSTRAINT fk_anomaly_detection_rule_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_anomaly_detection_rule_pipeline_id_active ON anomaly_detection_rule (pipeline_id, active)
    """,
    """
CREATE TABLE freshness_pipeline_log (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    pipeline_id INTEGER NOT NULL,
    last_dml_timestamp DATETIME NOT NULL,
    evaluation_timestamp DATETIME NOT NULL,
    last_evaluated_at DATETIME NOT NULL,
    deadline DATETIME NOT NULL,
    freshness_number INTEGER NOT NULL,
    freshness_datepart VARCHAR(20) NOT NULL CONSTRAINT ck_freshness_pipeline_log_freshness_datepart_enum CHECK (freshness_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    used_child_config BOOLEAN NOT NULL,
    resolved_at DATETIME,
    resolution VARCHAR(20) CONSTRAINT ck_freshness_pipeline_log_resolution_enum CHECK (resolution IN ('recovered', 'unmonitored')),
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT fk_freshness_pipeline_log_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_freshness_pipeline_log_resolved_at ON freshness_pipeline_log (resolved_at)
    """,
    """
CREATE UNIQUE INDEX uq_freshness_pipeline_log_open ON freshness_pipeline_log (pipeline_id) WHERE resolved_at IS NULL
    """,
    """
CREATE TABLE pipeline_execution (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    parent_id INTEGER,
    pipeline_id INTEGER NOT NULL,
    start_date DATETIME NOT NULL,
    date_recorded DATE NOT NULL,
    hour_recorded INTEGER NOT NULL,
    weekday_recorded INTEGER NOT NULL,
    end_date DATETIME,
    duration_seconds BIGINT,
    completed_successfully BOOLEAN,
    inserts BIGINT CONSTRAINT ck_pipeline_execution_inserts_non_negative CHECK (inserts >= 0),
    updates BIGINT CONSTRAINT ck_pipeline_execution_updates_non_negative CHECK (updates >= 0),
    soft_deletes BIGINT CONSTRAINT ck_pipeline_execution_soft_deletes_non_negative CHECK (soft_deletes >= 0),
    total_rows BIGINT CONSTRAINT ck_pipeline_execution_total_rows_non_negative CHECK (total_rows >= 0),
    watermark VARCHAR(255),
    next_watermark VARCHAR(255),
    execution_metadata JSON,
    anomaly_flags JSON,
    throughput DOUBLE,
    anomaly_checked_at DATETIME,
    CONSTRAINT ck_pipeline_execution_end_after_start CHECK (end_date IS NULL OR end_date > start_date),
    CONSTRAINT ck_pipeline_execution_not_own_parent CHECK (parent_id IS NULL OR parent_id <> id),
    CONSTRAINT fk_pipeline_execution_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_pipeline_execution_anomaly_pending ON pipeline_execution (id) WHERE completed_successfully AND anomaly_checked_at IS NULL
    """,
    """
CREATE INDEX ix_pipeline_execution_date_recorded_pipeline_id ON pipeline_execution (date_recorded, pipeline_id)
    """,
    """
CREATE INDEX ix_pipeline_execution_parent_id ON pipeline_execution (parent_id)
    """,
    """
CREATE INDEX ix_pipeline_execution_pipeline_id_hour_recorded_end_date ON pipeline_execution (pipeline_id, hour_recorded, end_date)
    """,
    """
CREATE INDEX ix_pipeline_execution_pipeline_id_start_date ON pipeline_execution (pipeline_id, start_date)
    """,
    """
CREATE INDEX ix_pipeline_execution_pipeline_id_weekday_recorded_end_date ON pipeline_execution (pipeline_id, weekday_recorded, end_date)
    """,
    """
CREATE INDEX ix_pipeline_execution_running ON pipeline_execution (start_date) WHERE completed_successfully IS NULL
    """,
    """
CREATE INDEX ix_pipeline_execution_start_date ON pipeline_execution (start_date)
    """,
    """
CREATE TABLE anomaly_detection_result (
    pipeline_execution_id INTEGER NOT NULL,
    rule_id INTEGER NOT NULL,
    pipeline_id INTEGER NOT NULL,
    metric_field VARCHAR(30) NOT NULL,
    direction VARCHAR(10) NOT NULL,
    seasonality VARCHAR(20) NOT NULL,
    violation_value DOUBLE,
    z_score DOUBLE,
    historical_mean DOUBLE,
    std_deviation_value DOUBLE,
    z_threshold DOUBLE,
    threshold_min_value DOUBLE,
    threshold_max_value DOUBLE,
    context JSON,
    detected_at DATETIME NOT NULL,
    CONSTRAINT pk_anomaly_detection_result PRIMARY KEY (pipeline_execution_id, rule_id),
    CONSTRAINT fk_anomaly_detection_result_pipeline_execution_id_pipeline_execution FOREIGN KEY(pipeline_execution_id) REFERENCES pipeline_execution (id),
    CONSTRAINT fk_anomaly_detection_result_rule_id_anomaly_detection_rule FOREIGN KEY(rule_id) REFERENCES anomaly_detection_rule (id)
)
    """,
    """
CREATE INDEX ix_anomaly_detection_result_pipeline_id_detected_at ON anomaly_detection_result (pipeline_id, detected_at)
    """,
    """
CREATE TABLE pipeline_execution_closure (
    parent_execution_id INTEGER NOT NULL,
    child_execution_id INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    CONSTRAINT pk_pipeline_execution_closure PRIMARY KEY (parent_execution_id, child_execution_id),
    CONSTRAINT fk_pipeline_execution_closure_parent_execution_id_pipeline_execution FOREIGN KEY(parent_execution_id) REFERENCES pipeline_execution (id),
    CONSTRAINT fk_pipeline_execution_closure_child_execution_id_pipeline_execution FOREIGN KEY(child_execution_id) REFERENCES pipeline_execution (id)
)
    """,
    """
CREATE INDEX ix_pipeline_execution_closure_child_depth ON pipeline_execution_closure (child_execution_id, depth)
    """,
    """
CREATE INDEX ix_pipeline_execution_closure_parent_depth ON pipeline_execution_closure (parent_execution_id, depth)
    """,
    """
CREATE TABLE timeliness_pipeline_execution_log (
    pipeline_execution_id INTEGER NOT NULL,
    pipeline_id INTEGER NOT NULL,
    execution_status VARCHAR(20) NOT NULL CONSTRAINT ck_timeliness_pipeline_execution_log_execution_status_enum CHECK (execution_status IN ('running', 'completed', 'failed')),
    duration_seconds BIGINT NOT NULL,
    seconds_threshold BIGINT,
    timely_number INTEGER,
    timely_datepart VARCHAR(20) CONSTRAINT ck_timeliness_pipeline_execution_log_timely_datepart_enum CHECK (timely_datepart IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
    used_child_config BOOLEAN,
    final_status VARCHAR(20) CONSTRAINT ck_timeliness_pipeline_execution_log_final_status_enum CHECK (final_status IN ('completed', 'failed')),
    resolved_at DATETIME,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT pk_timeliness_pipeline_execution_log PRIMARY KEY (pipeline_execution_id),
    CONSTRAINT fk_timeliness_pipeline_execution_log_pipeline_execution_id_pipeline_execution FOREIGN KEY(pipeline_execution_id) REFERENCES pipeline_execution (id),
    CONSTRAINT fk_timeliness_pipeline_execution_log_pipeline_id_pipeline FOREIGN KEY(pipeline_id) REFERENCES pipeline (id)
)
    """,
    """
CREATE INDEX ix_timeliness_pipeline_execution_log_open ON timeliness_pipeline_execution_log (pipeline_execution_id) WHERE resolved_at IS NULL
    """,
]


def upgrade() -> None:
    statements = POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
