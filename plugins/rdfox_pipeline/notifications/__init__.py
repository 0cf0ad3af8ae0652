"""Job notifications: pure rendering of success/failure messages from a job record (no AWS, no Airflow)."""

from __future__ import annotations

from rdfox_pipeline.notifications.redact import redact
from rdfox_pipeline.notifications.render import SUBJECT_LIMIT, Notification, render_notification

__all__ = ["SUBJECT_LIMIT", "Notification", "redact", "render_notification"]
