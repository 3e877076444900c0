"""MLflow tracking for the weekly segmentation model: one run per week, a registry version, alias ``@champion``.

Why it looks like this:
- SQLite (``sqlite:///<abs path>``) or a server only; MLflow's file store is deprecated (RELIABILITY R9).
- The model is stored with skops, never pickle, and loaded only after its SHA-256 matches the hash recorded at
  log time (R8). The pyfunc is logged "from code", so MLflow's cloudpickle of the wrapper is not used either.
- DBSCAN has no ``predict``; :class:`SegmentationPyfunc` serves ``SegmentationModel.assign`` (nearest
  centroid, micro-community within eps of a core sample, else outlier) so any MLflow client can score accounts.
- ``log_model`` gets ``pip_requirements`` explicitly: inferring them costs ≥ 5 s per call.
- The alias moves only through :meth:`MlflowTracker.promote`, which refuses versions whose gate failed.
"""

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import skops.io as sio
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, Schema

from seg_pipeline.crashpoints import crash_point
from seg_pipeline.run_guard import MLFLOW_PREFIX, owner_tags
from seg_pipeline.segmentation import report

ALIAS = "champion"
MODEL_ARTIFACT = "segmentation_model"
MODEL_FILE = "segmentation_model.skops"
MODEL_NAME_IN_RUN = "model"
# The exact types (and functions) beyond skops' own defaults that a stored SegmentationModel holds. Anything else
# in a skops file is refused before it is constructed: never a module prefix, since ``builtins.`` alone admits
# ``builtins.exec``. A new type in the model means adding its exact name here.
TRUSTED_TYPES = frozenset({
    "numpy.dtype",
    "seg_pipeline.segmentation.model.SegmentationModel",
    "seg_pipeline.segmentation.preprocess.QuantileClipper",
    "seg_pipeline.segmentation.preprocess.Whiten",
    "seg_pipeline.segmentation.preprocess.signed_log1p",
    "seg_pipeline.segmentation.preprocess.weight_onehot",
})
PYFUNC_ENTRY_FILE = "segmentation_pyfunc.py"
PYFUNC_LOADER = "mlflow.pyfunc.loaders.code_model"
TAG_WEEK = "seg.week_start"
TAG_DAGSTER_RUN = "dagster.run_id"
TAG_SHA = "seg.model_sha256"
TAG_GATE = "seg.gate_passed"
TAG_VERSION = "seg.model_version"
TAG_DROPPED = "seg.dropped_features"  # columns left out of the week's training (all null or constant)
# Bounded HTTP client for server stores; no tqdm bars in Dagster logs. setdefault: the user's values win.
CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
PARAM_MAX_CHARS = 6000  # MLflow's limit on a param value

_ENTRY_CODE = """\
# Written by seg_pipeline.segmentation.tracking: MLflow "models from code" entry point (no pickle).
import mlflow

from seg_pipeline.segmentation.tracking import SegmentationPyfunc

mlflow.models.set_model(SegmentationPyfunc())
"""

_logger = logging.getLogger(__name__)


class ModelIntegrityError(RuntimeError):
    """A stored model's bytes or types do not match what was recorded when it was logged."""


def sha256_file(path: Path) -> str:
    """Hash a file in 1 MiB chunks, so a model artifact can be verified before it is loaded."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dump_model(model: Any, path: Path) -> str:
    """Write ``model`` with skops; return the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(model, path)
    return sha256_file(path)


def registry_knows(sha: str) -> bool:
    """Whether a registered model version of the current tracking store records ``sha`` as its model's hash."""
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        return False
    with _quiet_mlflow():
        return bool(MlflowClient().search_model_versions(f"tag.`{TAG_SHA}` = '{sha}'"))


def check_pyfunc_dir(local: Path) -> None:
    """Refuse a downloaded pyfunc folder whose loader or entry code differs from what this package writes.

    MLflow imports ``loader_module`` and executes the "from code" entry file when it loads a pyfunc, so both
    must be exactly ours before ``mlflow.pyfunc.load_model`` is called on the folder.
    """
    import yaml

    mlmodel = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8")) or {}
    flavor = (mlmodel.get("flavors") or {}).get("python_function") or {}
    problems = []
    if flavor.get("loader_module") != PYFUNC_LOADER:
        problems.append(f"loader_module is {flavor.get('loader_module')!r}")
    if flavor.get("code") or flavor.get("code_paths"):
        problems.append("it adds code paths")
    entry = local / Path(str(flavor.get("model_code_path", ""))).name
    if entry.name != PYFUNC_ENTRY_FILE or not entry.is_file() or entry.read_text(encoding="utf-8") != _ENTRY_CODE:
        problems.append(f"its entry code is not the {PYFUNC_ENTRY_FILE} this package writes")
    if problems:
        raise ModelIntegrityError(f"pyfunc at {local.name} refused: {'; '.join(problems)}")


def load_model_file(path: Path, *, expected_sha256: str | None) -> Any:
    """Load a skops model after checking its hash and that it only holds our own or sklearn/numpy types."""
    if not expected_sha256:
        raise ModelIntegrityError(f"no recorded SHA-256 for {path.name}; refusing to load an unverified model")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ModelIntegrityError(f"{path.name} has SHA-256 {actual}, expected {expected_sha256}")
    untrusted = sio.get_untrusted_types(file=path)
    foreign = sorted(t for t in untrusted if t not in TRUSTED_TYPES)
    if foreign:
        raise ModelIntegrityError(f"{path.name} contains types outside the allow-list: {foreign}")
    return sio.load(path, trusted=untrusted)


# What a missing, truncated, tampered or foreign model file raises on load.
UNLOADABLE = (ModelIntegrityError, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, MlflowException)


@dataclass(frozen=True)
class ChampionLoad:
    """The model that stands in for ``@champion`` and the versions refused on the way (``(version, reason)``)."""

    model: Any
    version: str | None
    champion: str
    refused: list[tuple[str, str]]

    @property
    def fell_back(self) -> bool:
        """Whether the alias's own version could not be loaded."""
        return bool(self.refused)


class SegmentationPyfunc(PythonModel):
    """Serves ``SegmentationModel.assign`` through MLflow's pyfunc interface.

    K-means and DBSCAN micro-communities cannot be served by a stock flavor (DBSCAN has no ``predict``), so
    the model assigns new accounts itself: nearest centroid, a micro-community when within eps of one of its
    core samples, otherwise an outlier when beyond the segment's radius.
    """

    def __init__(self) -> None:
        """Start without a model; MLflow calls :meth:`load_context` before serving."""
        self.model: Any = None

    def load_context(self, context: Any) -> None:
        """Load the skops model artifact, refusing it unless the registry records its SHA-256.

        The hash in ``MLmodel`` (``model_config``) sits in the same folder as the model, so whoever can swap
        the model can rewrite it too; the registry's version tag is the record that counts.
        """
        path = Path(context.artifacts[MODEL_ARTIFACT])
        actual = sha256_file(path)
        self.model = load_model_file(path, expected_sha256=actual if registry_knows(actual) else None)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Assign ``model_input``'s accounts (see ``SegmentationModel.assign``)."""
        assigned: pd.DataFrame = self.model.assign(model_input)
        return assigned


def model_signature(model: Any) -> ModelSignature:
    """Input: ``account_id`` plus the model's features; output: the assignment columns."""
    categorical = list(getattr(model, "categorical", ()) or ())
    inputs: list[Any] = [
        ColSpec("string", "account_id"),
        *(ColSpec("double", f) for f in model.features if f not in categorical),
        *(ColSpec("string", c) for c in categorical),
    ]
    outputs: list[Any] = [
        ColSpec("string", "account_id"),
        ColSpec("long", "segment_id"),
        ColSpec("string", "segment_name"),
        ColSpec("double", "micro_community", required=False),
        ColSpec("boolean", "is_outlier"),
        ColSpec("double", "margin"),
        ColSpec("double", "distance"),
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def pip_requirements() -> list[str]:
    """Pinned runtime requirements of the pyfunc (seg_pipeline itself must be importable where it is served)."""
    import scipy
    import sklearn
    import skops

    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"skops=={skops.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"scipy=={scipy.__version__}",
    ]


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Silence the specific MLflow chatter that says nothing actionable for this pipeline."""
    with warnings.catch_warnings():
        # Pydantic/setuptools deprecations raised inside MLflow's own imports and model saving.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
        # MLflow hints about integer columns in signatures; ours is explicit and uses doubles.
        warnings.filterwarnings("ignore", message=r".*[Ii]nferred schema contains integer column.*")
        # Our signature is explicit, so the "no input example" nag on every log_model is noise.
        warnings.filterwarnings("ignore", message=r".*input example was not provided.*", category=UserWarning)
        mlogger = logging.getLogger("mlflow")
        alembic = logging.getLogger("alembic")
        levels = (mlogger.level, alembic.level)
        mlogger.setLevel(logging.WARNING)
        alembic.setLevel(logging.WARNING)  # schema migrations of a new SQLite store log at INFO
        try:
            yield
        finally:
            mlogger.setLevel(levels[0])
            alembic.setLevel(levels[1])


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return dict(vars(obj))


def _param_value(v: Any) -> str:
    text = ",".join(str(x) for x in v) if isinstance(v, (list, tuple, range)) else str(v)
    return text[:PARAM_MAX_CHARS]


def _dropped_text(result: Any) -> str:
    """``col (reason); ...`` for the columns a training left out, or "none"."""
    dropped = dict(getattr(result, "dropped_features", {}) or {})
    return "; ".join(f"{c} ({why})" for c, why in dropped.items())[:PARAM_MAX_CHARS] or "none"


class MlflowTracker:
    """Logs weekly trainings, registers the model and moves the ``@champion`` alias.

    ``tracking_uri`` doubles as the registry URI. The global MLflow URI is set only inside each call and
    restored afterwards, so one process can talk to several stores (tests, notebooks).
    """

    def __init__(
        self,
        tracking_uri: str,
        artifact_root: Path,
        experiment: str = "seg_pipeline",
        model_name: str = "seg_pipeline_segmentation",
    ) -> None:
        """Connect to a SQLite or HTTP tracking store; a file store or a relative SQLite path is refused."""
        if tracking_uri.startswith("file:") or "://" not in tracking_uri:
            raise ValueError(
                f"tracking URI {tracking_uri!r} is a file store; use sqlite:///<absolute path> or an http(s) server"
            )
        if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_absolute():
            raise ValueError(f"tracking URI {tracking_uri!r} must hold an absolute path (sqlite:////abs/path.db)")
        for key, value in CLIENT_DEFAULTS.items():
            os.environ.setdefault(key, value)
        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root).resolve()
        self.experiment = experiment
        self.model_name = model_name
        with _quiet_mlflow():
            self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            self.experiment_id = self._ensure_experiment()

    def _ensure_experiment(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment)
        if exp is not None:
            return exp.experiment_id
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return self.client.create_experiment(self.experiment, artifact_location=self.artifact_root.as_uri())

    @contextmanager
    def active(self) -> Iterator[None]:
        """Point MLflow's fluent API (``mlflow.pyfunc.load_model``, ``start_run``) at this store, then restore.

        The previous values are read from MLflow's module globals, not ``get_tracking_uri()``, so an unset URI
        stays unset instead of being pinned to the default (which would also export ``MLFLOW_TRACKING_URI``).
        """
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        prev_tracking = getattr(tracking_utils, "_tracking_uri", None)
        prev_registry = getattr(registry_utils, "_registry_uri", None)
        # set_*_uri also export MLFLOW_*_URI for subprocesses and never unset the registry one: restore both.
        prev_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        with _quiet_mlflow():
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.tracking_uri)
            try:
                yield
            finally:
                mlflow.set_tracking_uri(prev_tracking)  # type: ignore[arg-type]  # None = unset, as MLflow does
                mlflow.set_registry_uri(prev_registry)  # type: ignore[arg-type]  # same: MLflow's hint omits None
                for key, value in prev_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def find_week_run(self, week_start: date, dagster_run_id: str | None) -> tuple[str, str] | None:
        """(MLflow run id, model version) of a finished run already logged by this Dagster run for the week."""
        if not dagster_run_id:
            return None
        flt = (
            f"tags.`{TAG_WEEK}` = '{week_start.isoformat()}' and tags.`{TAG_DAGSTER_RUN}` = '{dagster_run_id}'"
            " and attributes.status = 'FINISHED'"
        )
        with _quiet_mlflow():
            runs = self.client.search_runs([self.experiment_id], filter_string=flt, max_results=5)
        for run in runs:
            version = run.data.tags.get(TAG_VERSION)
            if version:
                return run.info.run_id, version
        return None

    def log_week(
        self,
        result: Any,
        *,
        week_start: date,
        tags: Mapping[str, str],
        config: Any | None = None,
        features: pd.DataFrame | None = None,
    ) -> str:
        """Log one weekly training (params, metrics, artifacts, model) and register it; return the version.

        Idempotent per (week, ``tags["dagster.run_id"]``): a retry of the same Dagster run returns the version
        it already logged instead of registering a second one. ``features`` (the training rows) enables the
        2-D PCA projection artifact. ``config`` defaults to ``result.config`` (a ``TrainConfig``).
        """
        dagster_run_id = tags.get(TAG_DAGSTER_RUN) or tags.get("dagster_run_id")
        existing = self.find_week_run(week_start, dagster_run_id)
        if existing is not None:
            return existing[1]
        config = config if config is not None else getattr(result, "config", None)
        gate_passed = bool(getattr(getattr(result, "gate", None), "passed", False))
        run_tags = {
            **{k: str(v) for k, v in tags.items()},
            TAG_WEEK: week_start.isoformat(),
            TAG_GATE: str(gate_passed).lower(),
            TAG_DROPPED: _dropped_text(result),
            **owner_tags(MLFLOW_PREFIX),  # `seg doctor` closes a RUNNING run whose process is gone
        }
        if dagster_run_id:
            run_tags[TAG_DAGSTER_RUN] = str(dagster_run_id)
        with self.active(), tempfile.TemporaryDirectory(prefix="seg_mlflow_") as tmp_str:
            tmp = Path(tmp_str)
            with mlflow.start_run(
                experiment_id=self.experiment_id, run_name=f"week-{week_start.isoformat()}", tags=run_tags
            ) as run:
                crash_point("model.mlflow_run_started")
                mlflow.log_params(self._params(result, config))
                mlflow.log_metrics(self._metrics(result))
                self._write_artifacts(result, tmp / "artifacts", features)
                mlflow.log_artifacts(str(tmp / "artifacts"))
                sha, version = self._register_model(result.model, week_start, tmp)
                crash_point("model.version_registered")
                for key, value in {
                    TAG_WEEK: week_start.isoformat(),
                    TAG_SHA: sha,
                    TAG_GATE: str(gate_passed).lower(),
                    "mlflow_run_id": run.info.run_id,
                }.items():
                    self.client.set_model_version_tag(self.model_name, version, key, value)
                mlflow.set_tags({TAG_SHA: sha, TAG_VERSION: version})
        return version

    def _register_model(self, model: Any, week_start: date, tmp: Path) -> tuple[str, str]:
        """Log ``model`` (skops file + pyfunc from code) in the active run and register it: (SHA-256, version)."""
        sha = dump_model(model, tmp / MODEL_FILE)
        entry = tmp / PYFUNC_ENTRY_FILE
        entry.write_text(_ENTRY_CODE)
        # MLflow prints "Registered model ... Creating a new version" to stderr on every week
        with contextlib.redirect_stderr(io.StringIO()):
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME_IN_RUN,
                python_model=str(entry),
                artifacts={MODEL_ARTIFACT: str(tmp / MODEL_FILE)},
                model_config={"sha256": sha},
                signature=model_signature(model),
                pip_requirements=pip_requirements(),
                registered_model_name=self.model_name,
                metadata={"week_start": week_start.isoformat(), "sha256": sha},
            )
        return sha, str(info.registered_model_version)

    @staticmethod
    def _params(result: Any, config: Any) -> dict[str, str]:
        cfg = _as_dict(config)
        params: dict[str, Any] = {
            k: cfg[k]
            for k in (
                "features", "ordinal", "categorical", "scaler", "k_range", "fixed_k", "eps", "min_samples", "seed"
            )
            if k in cfg
        }
        params["dropped_features"] = _dropped_text(result)
        selection = getattr(result, "k_selection", None)
        params["chosen_k"] = getattr(selection, "k", None) or result.metrics.get("n_segments")
        if selection is not None:
            params["k_rule"] = selection.reason
        params["model_version_label"] = getattr(result.model, "version", None)
        params.update({k: v for k, v in cfg.items() if k.startswith(("gate", "min_segment")) or k.endswith("_floor")})
        return {k: _param_value(v) for k, v in params.items() if v is not None}

    @staticmethod
    def _metrics(result: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        for k, v in dict(result.metrics).items():
            if v is None:
                continue
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                continue
        if "stability_ari" in out:
            out.setdefault("stability", out["stability_ari"])
        return out

    @staticmethod
    def _write_artifacts(result: Any, out: Path, features: pd.DataFrame | None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        selection = getattr(result, "k_selection", None)
        if selection is not None:
            selection.scores.to_csv(out / "k_selection.csv", index=False)
            (out / "k_selection.png").write_bytes(
                report.png_bytes(report.k_selection_figure(selection.scores, selection.k))
            )
        names = dict(getattr(result.model, "segment_names", {}) or {})
        profiles = result.profiles.copy()
        profiles.insert(0, "segment_name", [names.get(i, "") for i in profiles.index])
        profiles.to_csv(out / "segment_profiles.csv", index_label="segment_id")
        pz = result.profiles_z
        labelled = pz.set_axis([f"{i} {names.get(i, '')}".strip() for i in pz.index])
        (out / "profile_heatmap.png").write_bytes(report.png_bytes(report.profile_heatmap_figure(labelled)))
        gate = getattr(result, "gate", None)
        if gate is not None:
            (out / "gate.json").write_text(json.dumps(_as_dict(gate), indent=2, default=str))
        if features is not None:
            X = np.asarray(result.model.transform(features), dtype=float)
            seg = result.assignments.set_index("account_id")
            ids = features["account_id"] if "account_id" in features else features.index.to_series()
            labels = np.where(
                seg["is_outlier"].reindex(ids).fillna(True).to_numpy(dtype=bool),
                -1,
                seg["segment_id"].reindex(ids).fillna(-1).to_numpy(dtype=int),
            )
            (out / "projection_pca.png").write_bytes(
                report.png_bytes(report.projection_figure(X, labels, feature_names=None))
            )

    def promote(self, version: str, *, force: bool = False) -> None:
        """Point ``@champion`` at ``version``; refuses a version whose quality gate failed unless ``force``."""
        with _quiet_mlflow():
            mv = self.client.get_model_version(self.model_name, str(version))
            if mv.tags.get(TAG_GATE) != "true" and not force:
                raise ValueError(
                    f"model version {version} did not pass the quality gate; not promoting it to @{ALIAS}"
                )
            self.client.set_registered_model_alias(self.model_name, ALIAS, str(version))

    def champion_version(self) -> str | None:
        """Version currently holding ``@champion``, or None."""
        with _quiet_mlflow():
            try:
                return str(self.client.get_model_version_by_alias(self.model_name, ALIAS).version)
            except MlflowException as exc:
                if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                    return None
                raise

    def load_version(self, version: str) -> Any:
        """Download a registered version and load its model, checking the hash recorded in the registry."""
        with self.active():
            mv = self.client.get_model_version(self.model_name, str(version))
            expected = mv.tags.get(TAG_SHA)
            with tempfile.TemporaryDirectory(prefix="seg_champion_") as tmp:
                local = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=f"models:/{self.model_name}/{version}", dst_path=tmp
                    )
                )
                files = list(local.rglob(MODEL_FILE))
                if len(files) != 1:
                    raise ModelIntegrityError(f"model version {version} has {len(files)} {MODEL_FILE} files")
                return load_model_file(files[0], expected_sha256=expected)

    def load_champion(self) -> tuple[Any, str] | None:
        """(SegmentationModel, version) of ``@champion``, or None before the first promotion."""
        version = self.champion_version()
        if version is None:
            return None
        return self.load_version(version), version

    def load_pyfunc(self, version: str) -> Any:
        """Load a registered version as an MLflow pyfunc, after checking its loader, entry code and model hash.

        Use this rather than ``mlflow.pyfunc.load_model("models:/...")``: MLflow would run the entry code of
        a tampered folder before :class:`SegmentationPyfunc` could check the model file.
        """
        with self.active(), tempfile.TemporaryDirectory(prefix="seg_pyfunc_") as tmp:
            local = Path(mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.model_name}/{version}", dst_path=tmp))
            check_pyfunc_dir(local)
            with _quiet_mlflow():
                return mlflow.pyfunc.load_model(str(local))  # the model is in memory once loaded

    def good_versions_before(self, version: str) -> list[str]:
        """Versions older than ``version`` that passed their gate, newest first (the fallback order)."""
        with _quiet_mlflow():
            found = self.client.search_model_versions(f"name = '{self.model_name}'")
        older = [int(mv.version) for mv in found
                 if int(mv.version) < int(version) and (mv.tags or {}).get(TAG_GATE) == "true"]
        return [str(v) for v in sorted(older, reverse=True)]

    def load_serving_champion(self) -> ChampionLoad | None:
        """``@champion``'s model, or the newest earlier good version when the champion cannot be loaded.

        None before the first promotion. A champion whose file is missing, unreadable, tampered with or holds
        types outside the allow-list is skipped with its reason in ``refused``; ``model`` is None when no
        good version loads at all (the caller blocks the week).
        """
        champion = self.champion_version()
        if champion is None:
            return None
        refused: list[tuple[str, str]] = []
        loaded = self._try_load(champion, refused)
        if loaded is not None:
            return ChampionLoad(loaded, champion, champion, refused)
        for version in self.good_versions_before(champion):  # only listed when the champion failed
            loaded = self._try_load(version, refused)
            if loaded is not None:
                return ChampionLoad(loaded, version, champion, refused)
        return ChampionLoad(None, None, champion, refused)

    def _try_load(self, version: str, refused: list[tuple[str, str]]) -> Any:
        """Load ``version``, or record why it cannot be loaded in ``refused`` and return None."""
        try:
            return self.load_version(version)
        except UNLOADABLE as exc:
            refused.append((version, f"{type(exc).__name__}: {exc}"[:500]))
            return None


@functools.cache
def tracker_for(tracking_uri: str, artifact_root: str) -> MlflowTracker:
    """One tracker (and MLflow client) per process and store, shared by every stage and command."""
    return MlflowTracker(tracking_uri, Path(artifact_root))
