"""Engineer alerts: the sinks stage delivers what a failed blocking check describes (one alert per week and reason)."""

from seg_pipeline.outcomes import EngineerAlert
from seg_pipeline.sinks.alerts import send_engineer_alert
from seg_pipeline.sinks.config import AlertConfig
from seg_pipeline.sinks.tables import record_blocked_week
from seg_pipeline.warehouse.engine import Warehouse

# reasons that hold back the week's digests (recorded as blocked)
BLOCKS_SINKS = frozenset({"mass_migration", "input_drift"})


def notify_engineers(warehouse: Warehouse, config: AlertConfig, alert: EngineerAlert) -> None:
    """Send ``alert`` through the alert channel; a week whose sinks it blocks is recorded as such."""
    with warehouse.connect() as con:
        send_engineer_alert(con, config, alert)
        if alert.reason in BLOCKS_SINKS:
            record_blocked_week(con, config, alert.week_start)
