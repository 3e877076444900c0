"""The one place that reads ``SEG_*`` environment variables.

Everything else receives a :class:`Settings` object, so tests can build one pointing at a tmp dir and
nothing reads the environment at import time.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from seg_pipeline.sources.contracts import KEY_FEATURES

if TYPE_CHECKING:  # the CLI imports settings first: keep `seg --help` free of DuckDB
    from seg_pipeline.warehouse.engine import Warehouse
    from seg_pipeline.warehouse.spark_session import SparkConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = PROJECT_ROOT / "dagster_home"
DASHBOARD_FILE = "dashboard.html"  # under the reports folder; `seg dashboard` serves it

DAGSTER_YAML = """\
# Dagster instance for seg_pipeline (created by `seg` when missing; safe to edit).
telemetry:
  enabled: false
concurrency:
  pools:
    # every asset that writes warehouse.duckdb is in pool "warehouse": DuckDB allows one writer process
    default_limit: 1
    granularity: op
  runs:
    max_concurrent_runs: 4
run_monitoring:
  # runs launched from the UI/daemon: a run that never starts, or never finishes canceling, is marked failed.
  # `seg run` executes in its own process; it fails runs whose process is gone itself (seg_pipeline/run_guard.py)
  enabled: true
  start_timeout_seconds: 300
  cancel_timeout_seconds: 300
  max_resume_run_attempts: 0
  poll_interval_seconds: 60
"""


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number") from exc


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not an integer") from exc


def _env_names(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Read a comma-separated list of names (lower-cased); ``auto`` means none, so the data decides."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if raw.strip().lower() == "auto":
        return ()
    return tuple(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))


def _env_features(env: Mapping[str, str]) -> str:
    """``SEG_FEATURES``, checked now so a typo fails at start-up with the known names, not in week 5."""
    spec = env.get("SEG_FEATURES", "").strip()
    if spec:
        from seg_pipeline.segmentation.featureset import parse_features  # the registry pulls in pandas

        parse_features(spec)
    return spec


ENGINES = ("duckdb", "spark")


def _env_engine(env: Mapping[str, str]) -> str:
    engine = env.get("SEG_ENGINE", "").strip().lower() or "duckdb"
    if engine not in ENGINES:
        raise ValueError(f"SEG_ENGINE={engine!r} is not one of {', '.join(ENGINES)}")
    return engine


def _env_spark_conf(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Collect ``SEG_SPARK_CONF_<LABEL>="spark.key=value"`` (the value carries the key: conf keys are camelCase)."""
    pairs = []
    for name in sorted(n for n in env if n.startswith("SEG_SPARK_CONF_")):
        key, sep, value = env[name].partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{name}={env[name]!r} is not like 'spark.sql.shuffle.partitions=8'")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def _env_flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Paths are absolute; secrets are *names* of env vars, never values."""

    home: Path = DEFAULT_HOME
    mlflow_tracking_uri: str | None = None
    seed: int = 7
    first_week: date | None = None  # SEG_FIRST_WEEK: landed weeks before this Monday are ignored
    # ingestion
    quarantine_reject_rate: float = 0.2
    volume_drop_threshold: float = 0.5
    orphan_max_share: float = 0.2  # a feed whose rows are credibly more orphans than this blocks the week
    # feature rules: key features (case-insensitive product feature names); () = the top-N by usage
    key_features: tuple[str, ...] = KEY_FEATURES
    key_features_top_n: int = 4
    # DuckDB memory cap while SQL models run (spills to disk beyond it); "" = DuckDB's default (80 % of RAM)
    sql_memory_limit: str = "128MB"
    # segmentation
    k_min: int = 3
    k_max: int = 10
    fixed_k: int | None = None
    scaler: str = "standard"
    # clustering features: "" = the registry's default set; "+a,-b" changes it; "a,b,c" replaces it
    # (firmographics plan, employee_band, industry, region only when named; docs/features.md)
    clustering_features: str = ""
    gate_min_segment_share: float = 0.01
    gate_silhouette_floor: float = 0.05
    gate_stability_floor: float = 0.5
    # monitoring / sinks
    hysteresis_weeks: int = 2
    confirm_margin: float = 1.0
    mass_migration_threshold: float = 0.15
    drift_retrain_threshold: float = 0.5
    crm_mode: str = "file"  # file | rest
    crm_base_url: str | None = None
    crm_batch_size: int = 100
    crm_rps: float = 10.0
    alert_channel: str = "file"  # file | webhook | email
    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "seg-pipeline@localhost"
    smtp_ca_file: Path | None = None  # extra CA bundle to verify the SMTP server's STARTTLS certificate
    smtp_allow_plain_localhost: bool = False  # tests only: log in without TLS to an SMTP server on 127.0.0.1
    engineer_email: str = "data-eng@localhost"
    dashboard_url: str | None = None
    sinks_override: bool = False
    sinks_dry_run: bool = False  # report what write-back and alerts would send, send nothing
    crm_full_resync: bool = False  # write every account back, not only the changed ones
    mappings_path: Path | None = None  # YAML mapping your exports onto the source contracts (`seg import`)
    # engine (docs/engines.md): where the SQL models and the model fit run; downstream always reads DuckDB
    engine: str = "duckdb"  # duckdb | spark
    spark_master: str = "local[*]"  # or spark://host:7077 (standalone), yarn, k8s://...
    spark_remote: str | None = None  # sc://host:15002 (Spark Connect); wins over spark_master
    spark_conf: tuple[tuple[str, str], ...] = ()  # SEG_SPARK_CONF_<LABEL>="spark.key=value", passed through
    lake_uri: str | None = None  # SEG_LAKE_URI: root of the Spark engine's Parquet datasets; default SEG_HOME/lake
    secret_env: dict[str, str] = field(
        default_factory=lambda: {
            "crm_token": "SEG_CRM_TOKEN",
            "webhook_secret": "SEG_WEBHOOK_SECRET",
            "smtp_user": "SEG_SMTP_USER",
            "smtp_password": "SEG_SMTP_PASSWORD",
        }
    )

    # ---- derived locations (all under SEG_HOME) ----
    @property
    def warehouse_path(self) -> Path:
        """Live DuckDB warehouse, written by the single writer only."""
        return self.home / "warehouse.duckdb"

    @property
    def snapshot_path(self) -> Path:
        """Read-only copy of the warehouse published for dashboards and notebooks."""
        return self.home / "warehouse_snapshot.duckdb"

    @property
    def landing_dir(self) -> Path:
        """Landing zone the raw stage reads a week of source files from."""
        return self.home / "landing"

    @property
    def truth_dir(self) -> Path:
        """Simulator ground truth; the pipeline never reads it (only `seg evaluate`)."""
        return self.home / "truth"

    @property
    def mlflow_dir(self) -> Path:
        """Local MLflow store (tracking database and artifacts)."""
        return self.home / "mlflow"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking (and registry) URI: the configured one, else the local SQLite store."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').as_posix()}"

    @property
    def mlflow_artifact_root(self) -> Path:
        """Where MLflow stores logged models and reports."""
        return self.mlflow_dir / "artifacts"

    @property
    def reports_dir(self) -> Path:
        """Dashboard and drift reports."""
        return self.home / "reports"

    @property
    def outbox_dir(self) -> Path:
        """File sinks: CRM exports and the JSONL alert outbox."""
        return self.home / "outbox"

    @property
    def lake(self) -> str:
        """Root of the Spark engine's Parquet datasets (a local path unless SEG_LAKE_URI names another store)."""
        return self.lake_uri or str(self.home / "lake")

    def spark(self) -> "SparkConfig | None":
        """Return the Spark connection the engine uses, or None on the DuckDB engine."""
        if self.engine != "spark":
            return None
        from seg_pipeline.warehouse.spark_session import SparkConfig

        return SparkConfig(self.lake, self.spark_master, self.spark_remote, self.spark_conf)

    def warehouse(self) -> "Warehouse":
        """Return the warehouse these settings point at (the engine seam: DuckDB, or Spark computing into it)."""
        from seg_pipeline.warehouse.engine import Warehouse

        return Warehouse(self.warehouse_path, self.snapshot_path, self.sql_memory_limit or None, self.spark())

    @property
    def dashboard_link(self) -> str:
        """The dashboard link placed in alerts: ``SEG_DASHBOARD_URL`` or the file's URI."""
        return self.dashboard_url or self.dashboard_path.resolve().as_uri()

    @property
    def dashboard_path(self) -> Path:
        """The static segment-health dashboard page."""
        return self.reports_dir / DASHBOARD_FILE

    def secret(self, name: str, env: Mapping[str, str] | None = None) -> str | None:
        """Read a secret from the environment at the moment it is needed (never stored)."""
        env = os.environ if env is None else env
        return env.get(self.secret_env[name]) or None

    def with_home(self, home: Path) -> "Settings":
        """Return these settings under another SEG_HOME (resolved, so relative homes work from any cwd)."""
        return replace(self, home=home.resolve())

    def ensure_home(self) -> Path:
        """Create SEG_HOME and its dagster.yaml when missing; return the home."""
        self.home.mkdir(parents=True, exist_ok=True)
        for sub in (self.landing_dir, self.mlflow_dir, self.reports_dir, self.outbox_dir):
            sub.mkdir(parents=True, exist_ok=True)
        cfg = self.home / "dagster.yaml"
        if not cfg.exists():
            cfg.write_text(DAGSTER_YAML)
        return self.home

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``SEG_*`` variables (see README, "Configuration")."""
        from seg_pipeline.week_calendar import first_week_setting

        env = os.environ if env is None else env
        home = Path(env.get("SEG_HOME") or DEFAULT_HOME).expanduser().resolve()
        fixed_k = env.get("SEG_FIXED_K")
        return cls(
            home=home,
            mlflow_tracking_uri=env.get("SEG_MLFLOW_TRACKING_URI") or None,
            seed=_env_int(env, "SEG_SEED", 7),
            first_week=first_week_setting(env.get("SEG_FIRST_WEEK")),
            quarantine_reject_rate=_env_float(env, "SEG_QUARANTINE_REJECT_RATE", 0.2),
            volume_drop_threshold=_env_float(env, "SEG_VOLUME_DROP_THRESHOLD", 0.5),
            orphan_max_share=_env_float(env, "SEG_ORPHAN_MAX_SHARE", 0.2),
            key_features=_env_names(env, "SEG_KEY_FEATURES", KEY_FEATURES),
            key_features_top_n=_env_int(env, "SEG_KEY_FEATURES_TOP_N", 4),
            sql_memory_limit=env.get("SEG_SQL_MEMORY_LIMIT", "128MB"),
            k_min=_env_int(env, "SEG_K_MIN", 3),
            k_max=_env_int(env, "SEG_K_MAX", 10),
            fixed_k=int(fixed_k) if fixed_k else None,
            scaler=env.get("SEG_SCALER", "standard"),
            clustering_features=_env_features(env),
            gate_min_segment_share=_env_float(env, "SEG_GATE_MIN_SEGMENT_SHARE", 0.01),
            gate_silhouette_floor=_env_float(env, "SEG_GATE_SILHOUETTE_FLOOR", 0.05),
            gate_stability_floor=_env_float(env, "SEG_GATE_STABILITY_FLOOR", 0.5),
            hysteresis_weeks=_env_int(env, "SEG_HYSTERESIS_WEEKS", 2),
            confirm_margin=_env_float(env, "SEG_CONFIRM_MARGIN", 1.0),
            mass_migration_threshold=_env_float(env, "SEG_MASS_MIGRATION_THRESHOLD", 0.15),
            drift_retrain_threshold=_env_float(env, "SEG_DRIFT_RETRAIN_THRESHOLD", 0.5),
            crm_mode=env.get("SEG_CRM_MODE", "file"),
            crm_base_url=env.get("SEG_CRM_BASE_URL") or None,
            crm_batch_size=_env_int(env, "SEG_CRM_BATCH_SIZE", 100),
            crm_rps=_env_float(env, "SEG_CRM_RPS", 10.0),
            alert_channel=env.get("SEG_ALERT_CHANNEL", "file"),
            webhook_url=env.get("SEG_WEBHOOK_URL") or None,
            smtp_host=env.get("SEG_SMTP_HOST") or None,
            smtp_port=_env_int(env, "SEG_SMTP_PORT", 587),
            smtp_from=env.get("SEG_SMTP_FROM", "seg-pipeline@localhost"),
            smtp_ca_file=Path(env["SEG_SMTP_CA_FILE"]).expanduser() if env.get("SEG_SMTP_CA_FILE") else None,
            smtp_allow_plain_localhost=_env_flag(env, "SEG_SMTP_ALLOW_PLAIN_LOCALHOST"),
            engineer_email=env.get("SEG_ENGINEER_EMAIL", "data-eng@localhost"),
            dashboard_url=env.get("SEG_DASHBOARD_URL") or None,
            sinks_override=_env_flag(env, "SEG_SINKS_OVERRIDE"),
            sinks_dry_run=_env_flag(env, "SEG_SINKS_DRY_RUN"),
            crm_full_resync=_env_flag(env, "SEG_CRM_FULL_RESYNC"),
            mappings_path=Path(env["SEG_MAPPINGS"]).expanduser().resolve() if env.get("SEG_MAPPINGS") else None,
            engine=_env_engine(env),
            spark_master=env.get("SEG_SPARK_MASTER") or "local[*]",
            spark_remote=env.get("SEG_SPARK_REMOTE") or None,
            spark_conf=_env_spark_conf(env),
            lake_uri=env.get("SEG_LAKE_URI") or None,
        )
