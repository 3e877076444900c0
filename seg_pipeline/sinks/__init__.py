"""Sinks: CRM write-back and account-manager alerts, through an outbox with idempotency keys (rule 5)."""

from seg_pipeline.sinks.alerts import (
    AT_RISK,
    AlertResult,
    deliver_alerts,
    plan_alerts,
    send_am_alerts,
    send_engineer_alert,
)
from seg_pipeline.sinks.crm import WritebackResult, deliver_writeback, plan_writeback
from seg_pipeline.sinks.http import RetryPolicy, SinkAuthError, SinkGoneError, SinkStopError

__all__ = [
    "AT_RISK",
    "AlertResult",
    "RetryPolicy",
    "SinkAuthError",
    "SinkGoneError",
    "SinkStopError",
    "WritebackResult",
    "deliver_alerts",
    "deliver_writeback",
    "plan_alerts",
    "plan_writeback",
    "send_am_alerts",
    "send_engineer_alert",
]
