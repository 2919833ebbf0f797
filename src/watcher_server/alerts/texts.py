"""Alert wording (contract §12.1-12.2): titles, messages, detail lines and the Slack text."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ..core.dateparts import NOMINAL_SECONDS

LEVEL_MARKERS = {
    "info": "ℹ️ *INFO*",
    "warning": "⚠️ *WARNING*",
    "error": "❌ *ERROR*",
    "critical": "🚨 *CRITICAL*",
    "success": "✅ *SUCCESS*",
}


def unit(number: int | float, datepart: str) -> str:
    return datepart if number == 1 else f"{datepart}s"


def duration_in(seconds: int, datepart: str) -> str:
    """`3 hours`, `1 hour`, `28.72 minutes`: whole numbers as integers, otherwise 2 decimals, plural."""
    value = seconds / NOMINAL_SECONDS[datepart]
    if value == int(value):
        return f"{int(value)} {unit(int(value), datepart)}"
    return f"{value:.2f} {datepart}s"


def lines(items: list[str]) -> str:
    """Detail lines, each on its own line behind a tab and a bullet."""
    return "".join(f"\n\t• {item}" for item in items)


# The order detail lines are shown in. PostgreSQL's jsonb keeps object keys sorted by length, not in
# the order they were written, so the message fixes its own order: what happened first, links last.
DETAIL_ORDER = (
    "Failed Pipelines", "Recovered Pipelines", "Failed Executions", "Recovered Executions",
    "Total Anomalies", "Total Recovered", "Metrics", "Anomalies", "Recovered", "Total pending", "By type", "Links",
)  # fmt: skip


def slack_text(
    level: str, title: str, message: str, details: dict[str, Any] | None, created_at: dt.datetime, alert_id: int | None = None
) -> str:
    parts = [LEVEL_MARKERS[level], f"*{title}*", f"*Timestamp:* {created_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"]
    if alert_id is not None:  # Slack drops request headers: people can tell a rare re-send after a crash by this id
        parts.append(f"*Alert ID:* {alert_id}")
    parts.append(f"*Message:* {message}")
    if details:
        rank = {key: index for index, key in enumerate(DETAIL_ORDER)}
        unknown = len(DETAIL_ORDER) - 1.5  # other keys: after the known ones, before the links
        ordered = sorted(details.items(), key=lambda item: rank.get(item[0], unknown))
        parts += ["", "*Details:*"] + [f"• *{key}:* {value}" for key, value in ordered]
    return "\n".join(parts)


def pipeline_link(public_url: str, pipeline_id: int) -> str:
    return f"{public_url}/ui/pipelines/{pipeline_id}"  # the pipeline's page, readable by a person


MAX_LINKS = 20  # a message about 80,000 pipelines lists them all, but links to the first few only


def pipeline_links(public_url: str, pipeline_ids: list[int]) -> str:
    shown = [pipeline_link(public_url, p) for p in pipeline_ids[:MAX_LINKS]]
    if len(pipeline_ids) > MAX_LINKS:
        shown.append(f"… and {len(pipeline_ids) - MAX_LINKS} more")
    return lines(shown)


MAX_DIGEST_LINES = 50  # a Slack message stays readable; the page and GET /alerts list every alert
DIGEST_MESSAGE_CHARACTERS = 120


def digest_line(level: str, title: str, message: str) -> str:
    start = message if len(message) <= DIGEST_MESSAGE_CHARACTERS else message[: DIGEST_MESSAGE_CHARACTERS - 1] + "…"
    return f"• {LEVEL_MARKERS[level]} {title}: {start}"


def digest_slack_text(public_url: str, digest_id: int, members: list) -> str:
    """One message for the alerts a channel's rate limit held back: a line per alert (level, title, the
    start of its message, which names the pipelines), then a link to the alerts page."""
    parts = [f"*{len(members)} more alerts in the last minute:*", f"*Digest ID:* {digest_id}"]
    parts += [digest_line(row.level, row.title, row.message) for row in members[:MAX_DIGEST_LINES]]
    if len(members) > MAX_DIGEST_LINES:
        parts.append(f"… and {len(members) - MAX_DIGEST_LINES} more")
    parts.append(f"All alerts: {public_url}/ui/alerts")
    return "\n".join(parts)
