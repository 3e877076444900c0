"""Typed Dagster resources, one per outside system, bound once in ``definitions.py``.

Each resource only turns its configuration into the narrow object the stage code takes (a ``Warehouse``, an
``MlflowTracker``, a ``CrmConfig`` ...); no stage reads the environment or a whole ``Settings``. Secrets are
bound as ``dg.EnvVar`` so Dagster resolves them at run time and never shows their values.
"""

from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field

from seg_pipeline.monitoring.config import DriftConfig, MigrationConfig
from seg_pipeline.raw.config import IngestConfig
from seg_pipeline.segmentation.featureset import parse_features
from seg_pipeline.segmentation.tracking import MlflowTracker, tracker_for
from seg_pipeline.segmentation.train import TrainConfig
from seg_pipeline.settings import Settings
from seg_pipeline.sinks.config import AlertConfig, CrmConfig
from seg_pipeline.sources.contracts import KEY_FEATURES
from seg_pipeline.warehouse.engine import Warehouse
from seg_pipeline.warehouse.spark_session import SparkConfig
from seg_pipeline.week_calendar import first_week_setting


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse engine (DuckDB file + read-only snapshot), and Spark when ``engine`` is spark (docs/engines.md)."""

    path: str
    snapshot_path: str
    sql_memory_limit: str = "128MB"
    engine_name: str = "duckdb"  # SEG_ENGINE
    lake_uri: str | None = None
    spark_master: str = "local[*]"
    spark_remote: str | None = None
    spark_conf: list[str] = Field(default_factory=list)  # "key=value" pairs (SEG_SPARK_CONF_*)

    def engine(self) -> Warehouse:
        """Return the warehouse engine the stages take (they never see paths or settings)."""
        spark = None
        if self.engine_name == "spark":
            conf = tuple(tuple(kv.split("=", 1)) for kv in self.spark_conf)
            spark = SparkConfig(self.lake_uri or str(Path(self.path).parent / "lake"), self.spark_master,
                                self.spark_remote, conf)  # type: ignore[arg-type]  # pairs by construction
        return Warehouse(Path(self.path), Path(self.snapshot_path), self.sql_memory_limit or None, spark)


class ModelRegistryResource(dg.ConfigurableResource):
    """MLflow tracking server + model registry (SQLite file by default)."""

    tracking_uri: str
    artifact_root: str

    def tracker(self) -> MlflowTracker:
        """One client per process and store, shared by every stage that needs the registry."""
        return tracker_for(self.tracking_uri, self.artifact_root)


class LandingZoneResource(dg.ConfigurableResource):
    """Where exports land, and the ingest policy that judges them."""

    path: str
    quarantine_reject_rate: float = 0.2
    volume_drop_threshold: float = 0.5
    orphan_max_share: float = 0.2
    key_features: list[str] = Field(default_factory=lambda: list(KEY_FEATURES))
    key_features_top_n: int = 4
    first_week: str | None = None  # SEG_FIRST_WEEK: the Monday schedule ignores earlier weeks

    def first_week_date(self) -> date | None:
        """Return ``first_week`` as a date (validated like SEG_FIRST_WEEK), or None: from the first landed week."""
        return first_week_setting(self.first_week)

    def config(self) -> IngestConfig:
        """Return the raw stage's ingest configuration (and the feature rules it records per week)."""
        return IngestConfig(Path(self.path), self.quarantine_reject_rate, self.volume_drop_threshold,
                            self.orphan_max_share, tuple(self.key_features), self.key_features_top_n)


class CrmSinkResource(dg.ConfigurableResource):
    """The CRM that receives segment write-backs: a file export or a REST API."""

    mode: str = "file"
    export_dir: str
    base_url: str | None = None
    token: str | None = None
    batch_size: int = 100
    rps: float = 10.0
    full_resync: bool = False
    dry_run: bool = False
    jitter_seed: int = 7

    def config(self) -> CrmConfig:
        """Return the CRM sink's configuration, secrets resolved by Dagster at run time."""
        return CrmConfig(
            mode=self.mode, export_dir=Path(self.export_dir), base_url=self.base_url, token=self.token,
            batch_size=self.batch_size, rps=self.rps, full_resync=self.full_resync, dry_run=self.dry_run,
            jitter_seed=self.jitter_seed,
        )


class AlertChannelResource(dg.ConfigurableResource):
    """Where digests and engineer alerts go: a JSONL file, a signed webhook or SMTP."""

    channel: str = "file"
    outbox_path: str
    dashboard_url: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "seg-pipeline@localhost"
    smtp_ca_file: str | None = None
    smtp_allow_plain_localhost: bool = False
    engineer_email: str = "data-eng@localhost"
    dry_run: bool = False
    jitter_seed: int = 7

    def config(self) -> AlertConfig:
        """Return the alert channel's configuration, secrets resolved by Dagster at run time."""
        return AlertConfig(
            channel=self.channel, outbox_path=Path(self.outbox_path), dashboard_url=self.dashboard_url,
            webhook_url=self.webhook_url, webhook_secret=self.webhook_secret, smtp_host=self.smtp_host,
            smtp_port=self.smtp_port, smtp_user=self.smtp_user, smtp_password=self.smtp_password,
            smtp_from=self.smtp_from, engineer_email=self.engineer_email, dry_run=self.dry_run,
            jitter_seed=self.jitter_seed, smtp_ca_file=Path(self.smtp_ca_file) if self.smtp_ca_file else None,
            smtp_allow_plain_localhost=self.smtp_allow_plain_localhost,
        )


class ReportStoreResource(dg.ConfigurableResource):
    """The folder that holds drift reports and the dashboard."""

    path: str

    def directory(self) -> Path:
        """Return the folder reports are written to."""
        return Path(self.path)


class PolicyResource(dg.ConfigurableResource):
    """The pipeline's decisions: seed, k range, quality gate, hysteresis, mass-migration and drift thresholds."""

    seed: int = 7
    k_min: int = 3
    k_max: int = 10
    fixed_k: int | None = None
    scaler: str = "standard"
    features: str = ""  # SEG_FEATURES: the clustering feature spec (docs/features.md)
    gate_min_segment_share: float = 0.01
    gate_silhouette_floor: float = 0.05
    gate_stability_floor: float = 0.5
    hysteresis_weeks: int = 2
    confirm_margin: float = 1.0
    mass_migration_threshold: float = 0.15
    sinks_override: bool = False
    drift_retrain_threshold: float = 0.5

    def training(self) -> TrainConfig:
        """Return the weekly training's features, k range, scaler, seed and quality-gate floors."""
        chosen = parse_features(self.features)
        return TrainConfig(
            features=chosen.numeric, ordinal=chosen.ordinal, categorical=chosen.onehot,
            k_range=(self.k_min, self.k_max), fixed_k=self.fixed_k, scaler=self.scaler, seed=self.seed,
            min_segment_share=self.gate_min_segment_share, silhouette_floor=self.gate_silhouette_floor,
            stability_floor=self.gate_stability_floor,
        )

    def migrations(self) -> MigrationConfig:
        """Return the migration ledger's hysteresis and mass-migration settings."""
        return MigrationConfig(self.hysteresis_weeks, self.confirm_margin, self.mass_migration_threshold,
                               self.sinks_override)

    def drift(self, reports_dir: Path) -> DriftConfig:
        """Return the drift reports' settings, writing under ``reports_dir``."""
        return DriftConfig(reports_dir, self.seed)


def _secret(settings: Settings, name: str) -> str | dg.EnvVar | None:
    """Bind a secret as ``EnvVar`` when it is configured (Dagster resolves it at run time), else leave it unset."""
    var = settings.secret_env[name]
    return dg.EnvVar(var) if settings.secret(name) else None


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Every resource of the project, configured from ``settings`` (see README, "Configuration")."""
    s = settings
    return {
        "warehouse": WarehouseResource(path=str(s.warehouse_path), snapshot_path=str(s.snapshot_path),
                                       sql_memory_limit=s.sql_memory_limit, engine_name=s.engine,
                                       lake_uri=s.lake, spark_master=s.spark_master, spark_remote=s.spark_remote,
                                       spark_conf=[f"{k}={v}" for k, v in s.spark_conf]),
        "model_registry": ModelRegistryResource(tracking_uri=s.tracking_uri,
                                                artifact_root=str(s.mlflow_artifact_root)),
        "landing": LandingZoneResource(path=str(s.landing_dir), quarantine_reject_rate=s.quarantine_reject_rate,
                                       volume_drop_threshold=s.volume_drop_threshold,
                                       orphan_max_share=s.orphan_max_share, key_features=list(s.key_features),
                                       key_features_top_n=s.key_features_top_n,
                                       first_week=s.first_week.isoformat() if s.first_week else None),
        "crm": CrmSinkResource(
            mode=s.crm_mode, export_dir=str(s.outbox_dir / "crm"), base_url=s.crm_base_url,
            token=_secret(s, "crm_token"), batch_size=s.crm_batch_size, rps=s.crm_rps,
            full_resync=s.crm_full_resync, dry_run=s.sinks_dry_run, jitter_seed=s.seed,
        ),
        "alerts": AlertChannelResource(
            channel=s.alert_channel, outbox_path=str(s.outbox_dir / "alerts.jsonl"), dashboard_url=s.dashboard_link,
            webhook_url=s.webhook_url, webhook_secret=_secret(s, "webhook_secret"), smtp_host=s.smtp_host,
            smtp_port=s.smtp_port, smtp_user=_secret(s, "smtp_user"), smtp_password=_secret(s, "smtp_password"),
            smtp_from=s.smtp_from, engineer_email=s.engineer_email, dry_run=s.sinks_dry_run, jitter_seed=s.seed,
            smtp_ca_file=str(s.smtp_ca_file) if s.smtp_ca_file else None,
            smtp_allow_plain_localhost=s.smtp_allow_plain_localhost,
        ),
        "reports": ReportStoreResource(path=str(s.reports_dir)),
        "policy": PolicyResource(
            seed=s.seed, k_min=s.k_min, k_max=s.k_max, fixed_k=s.fixed_k, scaler=s.scaler,
            features=s.clustering_features,
            gate_min_segment_share=s.gate_min_segment_share, gate_silhouette_floor=s.gate_silhouette_floor,
            gate_stability_floor=s.gate_stability_floor, hysteresis_weeks=s.hysteresis_weeks,
            confirm_margin=s.confirm_margin, mass_migration_threshold=s.mass_migration_threshold,
            sinks_override=s.sinks_override, drift_retrain_threshold=s.drift_retrain_threshold,
        ),
    }

