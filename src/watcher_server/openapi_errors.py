"""The error answers of every operation, written into the OpenAPI document (contract §2.8, §2.10).

FastAPI documents only 422, with a schema our handler reshapes. `document_errors(app)` rewrites the
generated document once: each operation lists the 4xx/503 answers it can give, all with the
`{"detail", "message"}` body of errors.py. Some codes follow from the operation's shape (`_derived`);
the rest come from the code and are listed per operation in `ROUTE_ERRORS`.
500 is never listed: it is a server fault, not an answer a client should plan for.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from .auth import OPEN_PATHS, READ_METHODS

REF = "#/components/schemas/"

ERROR_BODY = {
    "title": "ErrorBody",
    "type": "object",
    "description": "Every error answer except validation: `message` repeats `detail` (the SDK reads `message`).",
    "properties": {
        "detail": {"type": "string", "title": "Detail"},
        "message": {"type": "string", "title": "Message"},
    },
    "required": ["detail", "message"],
}
VALIDATION_ERROR_ITEM = {
    "title": "ValidationErrorItem",
    "type": "object",
    "properties": {
        "type": {"type": "string", "title": "Type", "description": "e.g. `missing`, `int_parsing`, `json_invalid`."},
        "loc": {
            "type": "array",
            "title": "Location",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": 'Where: `["body", "name"]`, `["path", "id"]`, `["query", "limit"]`.',
        },
        "msg": {"type": "string", "title": "Message"},
        "input": {"title": "Input", "description": "The rejected value, as far as it can be written as JSON."},
        "ctx": {"type": "object", "title": "Context", "additionalProperties": True},
    },
    "required": ["type", "loc", "msg", "input"],
}
VALIDATION_ERROR_BODY = {
    "title": "ValidationErrorBody",
    "type": "object",
    "description": "422: `detail` lists every error; `message` is the `msg` of the first.",
    "properties": {
        "detail": {"type": "array", "title": "Detail", "items": {"$ref": REF + "ValidationErrorItem"}},
        "message": {"type": "string", "title": "Message"},
    },
    "required": ["detail", "message"],
}
READINESS_FAILURE = {
    "title": "ReadinessFailure",
    "type": "object",
    "description": "GET /ready's own 503 body (contract §4), not the error body.",
    "properties": {
        "status": {"type": "string", "const": "unavailable"},
        "database": {"type": "string", "const": "unreachable"},
        "detail": {"type": "string", "description": "Short reason."},
    },
    "required": ["status", "database", "detail"],
}
SCHEMAS = {s["title"]: s for s in (ERROR_BODY, VALIDATION_ERROR_ITEM, VALIDATION_ERROR_BODY, READINESS_FAILURE)}

# What each code means wherever it appears; ROUTE_ERRORS and _derived add an operation's own reasons
# (400, 404 and 409 have no generic meaning: their reasons are always the operation's own).
MEANING = {
    401: "Tokens are configured and the `Authorization: Bearer <token>` header is missing, of another "
    "scheme (`Not authenticated`) or unknown (`Invalid token`).",
    403: "Tokens are configured and the token is read-only (`Token does not allow write access`).",
    413: "The declared or streamed request body is larger than the limit (`WATCHER_MAX_BODY_BYTES`, 1 MiB by default).",
    422: "Validation failed (body, path or query): wrong type, range, length, enumeration, missing field, "
    "null on a non-nullable field, non-object body, malformed JSON, a body that is not UTF-8, or JSON nested too deeply.",
    503: "The database is unreachable, locked or timed out (`Service unavailable`): retry after `Retry-After` seconds.",
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
}

DB = 503  # the operation reads or writes the database (errors.py answers its failures with 503)
WAIT_DB = {503: "With `?wait=true` (the check runs in the request)."}

# Codes each operation gives beyond the derived ones (401/403 from auth.py, 400/413 for a body,
# 422 for a body or parameters); a text is the operation's own reason, `DB` just the 503.
ROUTE_ERRORS: dict[str, dict[int, str]] = {
    # health: no database call, except /ready, whose 503 has its own body (READY_UNAVAILABLE)
    "GET /": {},
    "GET /health": {},
    "GET /ready": {},
    # pipeline types (pipelines/service.py)
    "POST /pipeline_type": {DB: ""},  # create-or-get: nothing to miss or collide with
    "GET /pipeline_type": {DB: ""},
    "GET /pipeline_type/{id}": {404: "`Pipeline Type Not Found`.", DB: ""},  # require_row
    "PATCH /pipeline_type": {  # patch_row
        404: "No type with this `id` or `name` (`Pipeline Type Not Found`).",
        409: "Rename onto a name that exists (`Pipeline type name already exists`).",
        DB: "",
    },
    # pipelines
    "POST /pipeline": {DB: ""},  # create-or-get; the type is created when missing
    "GET /pipeline": {DB: ""},
    "GET /pipeline/{id}": {404: "`Pipeline Not Found`.", DB: ""},
    "PATCH /pipeline": {
        404: "No pipeline with this `id` or `name` (`Pipeline Not Found`), or an unknown `pipeline_type_id` (`Pipeline Type Not Found`).",
        409: "Rename onto a name that exists (`Pipeline name already exists`).",
        DB: "",
    },
    # executions (executions/service.py)
    "POST /start_pipeline_execution": {404: "`Pipeline Not Found`, or `Parent execution not found`.", DB: ""},
    "POST /end_pipeline_execution": {
        400: "`end_date must be greater than start_date`.",  # Invalid in _end_values (executions/service.py)
        404: "`Pipeline execution not found`.",
        DB: "",
    },
    "GET /pipeline_execution/{id}": {404: "`Pipeline execution not found`.", DB: ""},
    "GET /pipeline_execution": {DB: ""},  # filters never 404
    "GET /pipeline/{id}/executions": {404: "`Pipeline Not Found`.", DB: ""},  # require_pipeline
    # address types and addresses (lineage/service.py)
    "POST /address_type": {DB: ""},
    "GET /address_type": {DB: ""},
    "GET /address_type/{id}": {404: "`Address Type Not Found`.", DB: ""},
    "PATCH /address_type": {
        404: "No type with this `id` or `name` (`Address Type Not Found`).",
        409: "Rename onto a name that exists (`Address type name already exists`).",
        DB: "",
    },
    "POST /address": {DB: ""},  # create-or-get; the type is created when missing
    "GET /address": {DB: ""},
    "GET /address/{id}": {404: "`Address not found`.", DB: ""},
    "PATCH /address": {
        404: "No address with this `id` or `name` (`Address not found`), or an unknown `address_type_id` (`Address Type Not Found`).",
        409: "Rename onto a name that exists (`Address name already exists`).",
        DB: "",
    },
    # lineage
    "GET /address/{id}/downstream": {404: "`Address not found`.", DB: ""},
    "GET /address/{id}/upstream": {404: "`Address not found`.", DB: ""},
    "POST /address_lineage": {404: "Unknown `pipeline_id` (`Pipeline Not Found`).", DB: ""},
    "GET /pipeline/{id}/lineage": {404: "`Pipeline Not Found`.", DB: ""},
    "GET /lineage-graph/": {404: "Unknown `source_address_id` (`Address not found`).", DB: ""},
    "GET /lineage-graph/addresses": {DB: ""},
    "POST /lineage-graph/refresh": {},  # a constant answer: no database, no input
    # checks (monitoring/router.py): without `wait` they are only queued (no database in this process)
    "POST /freshness": WAIT_DB,
    "GET /freshness": {DB: ""},
    "POST /timeliness": WAIT_DB,
    "GET /timeliness": {DB: ""},
    "POST /log_cleanup": {DB: ""},
    # anomaly detection (monitoring/anomaly_rules.py, anomalies.py)
    "POST /anomaly_detection_rule": {404: "Unknown `pipeline_id` (`Pipeline Not Found`).", DB: ""},
    "GET /anomaly_detection_rule": {DB: ""},
    "GET /anomaly_detection_rule/{id}": {404: "`Anomaly detection rule not found`.", DB: ""},
    "PATCH /anomaly_detection_rule": {
        404: "Unknown rule `id` (`Anomaly detection rule not found`) or `pipeline_id` (`Pipeline Not Found`).",
        409: "Another rule has this pipeline and metric (`Anomaly detection rule already exists for this pipeline and metric`).",
        DB: "",
    },
    "POST /detect_anomalies": {
        404: "Unknown execution (`Pipeline execution not found`).",
        **WAIT_DB,
    },
    "GET /anomaly_detection_result": {DB: ""},
    "GET /anomaly_incidents": {DB: ""},
    "POST /unflag_anomaly": {
        404: "The execution is unknown or not of this pipeline (`Pipeline execution <id> not found`), has no "
        "flags, or none of the metrics is flagged.",
        DB: "",
    },
    # alerts and the queue (alerts/router.py, jobs/status.py): the queue summaries count pending alerts in the database
    "GET /alerts": {DB: ""},
    "POST /alerts/{id}/resend": {
        404: "`Alert not found`.",
        409: "No webhook is configured (`No webhook is configured, so the alert cannot be sent: set WATCHER_SLACK_WEBHOOK_URL or …`).",
        DB: "",
    },
    "GET /jobs/status": {DB: ""},
    "POST /celery/monitor-queue": {DB: ""},
    "GET /metrics": {DB: ""},  # metrics.py: the gauges are read from the database at scrape time
    # OpenLineage in (openlineage/router.py): the body is read and decoded by the route itself
    "POST /api/v1/lineage": {
        400: "The body is not JSON, or not valid gzip.",
        413: "The body is larger than `WATCHER_MAX_BODY_BYTES` after gzip decompression.",
        415: "A `Content-Encoding` other than `gzip` or `identity`.",
        422: "A bad event (`loc` names the field, docs/openlineage.md), or a batch of more than 1,000 events.",
        DB: "",
    },
    "GET /api/v1/lineage/events": {DB: ""},
}

# GET /ready answers 503 itself, with its own body and no Retry-After.
READY_UNAVAILABLE = {
    "description": "The database did not answer a trivial query within 2 seconds.",
    "content": {"application/json": {"schema": {"$ref": REF + "ReadinessFailure"}}},
}


def error_codes(method: str, path: str, operation: dict[str, Any]) -> dict[int, list[str]]:
    """The error codes of one operation, each with its reasons (empty: the generic meaning alone)."""
    codes: dict[int, list[str]] = {code: ([reason] if reason else []) for code, reason in _derived(method, path, operation).items()}
    for code, reason in ROUTE_ERRORS.get(f"{method} {path}", {}).items():
        codes.setdefault(code, [])
        if reason:
            codes[code].insert(0, reason)
    return dict(sorted(codes.items()))


def _derived(method: str, path: str, operation: dict[str, Any]) -> dict[int, str]:
    codes: dict[int, str] = {}
    if path not in OPEN_PATHS:  # BearerTokenAuth guards everything else
        codes[401] = ""
        if method not in READ_METHODS:
            codes[403] = ""
    if "requestBody" in operation:
        codes[413] = ""
    if "requestBody" in operation or operation.get("parameters"):
        codes[422] = ""
    return codes


def _response(code: int, reasons: list[str]) -> dict[str, Any]:
    schema = "ValidationErrorBody" if code == 422 else "ErrorBody"
    description = " ".join([MEANING.get(code, ""), *reasons]).strip()
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": {"$ref": REF + schema}}}}
    if code in HEADERS:
        response["headers"] = copy.deepcopy(HEADERS[code])
    return response


def decorate(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the error answers of every operation of a generated document, in place. Any 4xx/5xx a
    route declares itself is replaced: this module is the one place that documents errors."""
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            successes = {code: r for code, r in responses.items() if not code.startswith(("4", "5"))}
            errors = {str(code): _response(code, reasons) for code, reasons in error_codes(method.upper(), path, operation).items()}
            if method.upper() == "GET" and path == "/ready":
                errors["503"] = copy.deepcopy(READY_UNAVAILABLE)
            operation["responses"] = {**successes, **errors}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(copy.deepcopy(SCHEMAS))
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 schemas, replaced above
        components.pop(unused, None)
    return schema


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` (and /openapi.json) document the error answers; built once, then cached."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = decorate(generate())
        return app.openapi_schema

    app.openapi = openapi
