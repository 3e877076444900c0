"""What the sinks need to know, and nothing more: one dataclass per sink, built by its Dagster resource.

Secrets arrive as values resolved by Dagster from the environment at run time (``EnvVar``); ``repr=False``
keeps them out of logs, tracebacks and metadata.
"""

from dataclasses import dataclass, field
from pathlib import Path

# The environment variables Dagster resolves the secrets from: error messages name them, never their values.
CRM_TOKEN_ENV = "SEG_CRM_TOKEN"  # noqa: S105 - a variable name, not a secret
WEBHOOK_SECRET_ENV = "SEG_WEBHOOK_SECRET"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True)
class CrmConfig:
    """CRM write-back: ``file`` (CSV/Parquet export) or ``rest`` (batch upserts with idempotency keys)."""

    mode: str = "file"
    export_dir: Path = Path("outbox/crm")
    base_url: str | None = None
    token: str | None = field(default=None, repr=False)
    batch_size: int = 100
    rps: float = 10.0
    full_resync: bool = False
    dry_run: bool = False
    jitter_seed: int = 7  # seeds retry jitter, so a rerun's timing is reproducible


@dataclass(frozen=True)
class AlertConfig:
    """Account-manager digests and engineer alerts: ``file`` (JSONL outbox), ``webhook`` or ``email``."""

    channel: str = "file"
    outbox_path: Path = Path("outbox/alerts.jsonl")
    dashboard_url: str = ""
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = field(default=None, repr=False)
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "seg-pipeline@localhost"
    smtp_ca_file: Path | None = None  # extra CA bundle for the server's STARTTLS certificate
    # Tests only: allow AUTH without TLS, and only to a server on the loopback address.
    smtp_allow_plain_localhost: bool = False
    engineer_email: str = "data-eng@localhost"
    dry_run: bool = False
    jitter_seed: int = 7
