"""Source contracts: what each landing file must contain, in one declarative table.

The readers in :mod:`seg_pipeline.sources.landing`, the raw-table DDL and the tests all read these objects, so a
column added here is validated, typed and loaded everywhere at once (``docs/contracts.md`` is the prose twin).
"""

from dataclasses import dataclass
from datetime import date
from typing import TypedDict, Unpack

SOURCES = ("product_events", "product_usage", "crm_accounts", "support_tickets")
DTYPES = ("VARCHAR", "BIGINT", "DOUBLE", "DATE", "TIMESTAMPTZ")

EVENT_TYPES = ("login", "feature_use", "api_call", "export", "invite")
# The simulator's product vocabulary and the default key features (``SEG_KEY_FEATURES``). Landing files may use
# ANY feature names (the vocabulary is open): these are defaults, never an allow-list.
FEATURE_NAMES = (
    "dashboards", "reports", "alerts", "workflows", "integrations", "data_import",
    "collaboration", "mobile_app", "sso", "audit_log", "custom_fields", "ai_assistant",
)
KEY_FEATURES = ("dashboards", "workflows", "integrations", "collaboration")
PLANS = ("starter", "growth", "business", "enterprise")
ACCOUNT_STATUSES = ("active", "churned")
TICKET_PRIORITIES = ("P1", "P2", "P3", "P4")
TICKET_CATEGORIES = ("bug", "how_to", "billing", "integration", "performance", "feature_request")
TICKET_STATUSES = ("open", "pending", "solved", "closed")
# Conventional values of free-text CRM columns (not enforced: other values load as they are). The simulator writes
# them and ``seg import`` maps exports onto them: a head count n falls in the first band whose upper edge is >= n.
EMPLOYEE_BANDS = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
EMPLOYEE_BAND_EDGES = (10, 50, 200, 1000, 5000)
REGIONS = ("NA", "EMEA", "APAC", "LATAM")

# Domain ceilings: values above them are broken exports (a unit mix-up, an overflow, a test record), never real
# business, so the row is quarantined as ``out_of_domain:<col>`` before it can reach a feature or a model. They sit
# orders of magnitude above any real SaaS account; docs/contracts.md lists them.
MRR_MAX_USD = 10_000_000.0  # monthly recurring revenue of one account, USD a month
SEATS_MAX = 1_000_000  # licensed seats of one account
DAILY_COUNT_MAX = 1_000_000_000  # usage events of one account, feature and day
DAILY_USERS_MAX = SEATS_MAX  # distinct users of one account, feature and day
DAILY_SECONDS_MAX = 86_400.0 * DAILY_USERS_MAX  # summed usage seconds of one account, feature and day

# Lineage columns appended to every raw.* table, and the raw.quarantine shape (name, DuckDB type).
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("week_start", "DATE"), ("source_file", "VARCHAR"), ("source_row", "BIGINT"),
)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"), ("week_start", "DATE"), ("source_file", "VARCHAR"), ("source_row", "BIGINT"),
    ("reason", "VARCHAR"), ("record", "VARCHAR"),
)

# Whole-file quarantine reasons (one row, ``source_row`` 0, per file the readers cannot turn into rows). Any of
# them blocks the week through the raw check ``landing_files_readable``, except an empty file of a source whose
# contract allows empty files (a quiet week of tickets).
EMPTY_FILE = "empty_file"
UNPARSEABLE_FILE = "unparseable_file"
FILE_REASONS = (EMPTY_FILE, UNPARSEABLE_FILE)
# A NUL byte in any text field, whatever the file format: NUL truncates strings in C-based tools downstream.
NUL_BYTE = "nul_byte"


class ContractError(ValueError):
    """A landing file breaks its contract badly enough that the whole run must stop (REJECT).

    The message always names the file (relative to the landing dir) and the column or problem.
    """


@dataclass(frozen=True)
class Column:
    """One contract column; ``min``/``max`` bound numbers, ``allowed`` bounds strings.

    ``required=False`` means the column may be absent from a file (JSON writers often omit null keys);
    it is then loaded as all-null.
    """

    name: str
    dtype: str
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    required: bool = True

    def __post_init__(self) -> None:
        """Refuse a column whose dtype the readers cannot produce."""
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name!r}: unsupported dtype {self.dtype!r}; use one of {DTYPES}")


@dataclass(frozen=True)
class Contract:
    """The shape and rules of one landing source.

    ``key`` identifies a record; ``null_key_columns`` are the columns whose null makes a record unusable
    (quarantined as ``null_key:<col>``); ``duplicate_key`` says what a repeated key means: ``dedupe`` (same
    payload kept once, different payloads quarantined) or ``reject`` (the file is ambiguous, stop).
    ``ts_column`` must fall inside the loaded week; ``ts_order`` pairs (earlier, later) must be ordered;
    ``day_column`` (a DATE) must equal the day in the file's name (daily aggregates). ``one_of_shapes`` marks a
    feed a company may not deliver at all (product activity comes as events, daily usage or both): a week without
    any of its files is no warning, the activity volume check judges the week. ``empty_file_ok`` says whether a
    file without rows is a quiet period (a warning) or a broken export that blocks the week (a CRM snapshot).
    """

    source: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    ts_column: str | None
    file_glob: str
    file_format: str  # parquet | csv | jsonl
    cadence: str  # day | week: one file per UTC day or per week (named by week_start)
    null_key_columns: tuple[str, ...] = ()
    duplicate_key: str = "dedupe"
    time_zone: str = "UTC"  # zone of naive timestamps in the files
    ts_order: tuple[tuple[str, str], ...] = ()
    day_column: str | None = None
    one_of_shapes: bool = False
    empty_file_ok: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        """Return the column names in contract order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """Return the column ``name``; a KeyError names the source."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.source} has no column {name!r}")

    def file_name(self, day: date) -> str:
        """Landing-relative path of the file for ``day`` (a UTC day or a week_start)."""
        return self.file_glob.replace("*", day.isoformat())

    def raw_columns(self) -> tuple[tuple[str, str], ...]:
        """``(name, DuckDB type)`` of the ``raw.<source>`` table: contract columns + lineage."""
        return tuple((c.name, c.dtype) for c in self.columns) + LINEAGE_COLUMNS


class _ColumnOptions(TypedDict, total=False):
    nullable: bool
    allowed: tuple[str, ...] | None
    min: float | None
    max: float | None
    required: bool


def _col(name: str, dtype: str = "VARCHAR", **kw: Unpack[_ColumnOptions]) -> Column:
    return Column(name, dtype, **kw)


CONTRACTS: dict[str, Contract] = {
    "product_events": Contract(
        source="product_events",
        columns=(
            _col("event_id", nullable=False),
            _col("account_id", nullable=False),
            _col("user_id", nullable=False),
            _col("event_type", nullable=False, allowed=EVENT_TYPES),
            _col("feature_name"),  # open vocabulary: any product feature name
            _col("event_ts", "TIMESTAMPTZ", nullable=False),
        ),
        key=("event_id",),
        ts_column="event_ts",
        file_glob="product_events/events_*.parquet",
        file_format="parquet",
        cadence="day",
        null_key_columns=("event_id", "account_id", "event_ts"),
        one_of_shapes=True,
    ),
    "product_usage": Contract(
        source="product_usage",
        columns=(
            _col("account_id", nullable=False),
            _col("usage_date", "DATE", nullable=False),
            _col("feature_name", nullable=False),  # the product's own name, verbatim, any vocabulary
            _col("event_type", nullable=False, allowed=EVENT_TYPES),
            _col("usage_count", "BIGINT", nullable=False, min=0, max=DAILY_COUNT_MAX),
            _col("duration_seconds", "DOUBLE", min=0, max=DAILY_SECONDS_MAX, required=False),
            _col("active_users", "BIGINT", min=0, max=DAILY_USERS_MAX, required=False),
        ),
        key=("account_id", "usage_date", "feature_name", "event_type"),
        ts_column=None,
        file_glob="product_usage/usage_*.parquet",
        file_format="parquet",
        cadence="day",
        null_key_columns=("account_id", "usage_date", "feature_name"),
        day_column="usage_date",
        one_of_shapes=True,
    ),
    "crm_accounts": Contract(
        source="crm_accounts",
        columns=(
            _col("account_id", nullable=False),
            _col("account_name"),
            _col("industry"),
            _col("employee_band"),
            _col("region"),
            _col("plan", nullable=False, allowed=PLANS),
            _col("seats", "BIGINT", nullable=False, min=0, max=SEATS_MAX),
            _col("mrr", "DOUBLE", nullable=False, min=0, max=MRR_MAX_USD),
            _col("signup_date", "DATE"),
            _col("renewal_date", "DATE"),
            _col("account_manager_id", nullable=False),
            _col("account_manager_name"),
            _col("account_manager_email"),
            _col("status", nullable=False, allowed=ACCOUNT_STATUSES),
        ),
        key=("account_id",),
        ts_column=None,
        file_glob="crm_accounts/accounts_*.csv",
        file_format="csv",
        cadence="week",
        null_key_columns=("account_id",),
        duplicate_key="reject",
        empty_file_ok=False,  # a snapshot without accounts is a failed export, never an empty company
    ),
    "support_tickets": Contract(
        source="support_tickets",
        columns=(
            _col("ticket_id", nullable=False),
            _col("account_id", nullable=False),
            _col("created_at", "TIMESTAMPTZ", nullable=False),
            _col("updated_at", "TIMESTAMPTZ", nullable=False),
            _col("resolved_at", "TIMESTAMPTZ", required=False),
            _col("priority", nullable=False, allowed=TICKET_PRIORITIES),
            _col("category", allowed=TICKET_CATEGORIES),
            _col("status", nullable=False, allowed=TICKET_STATUSES),
            _col("csat", "BIGINT", min=1, max=5, required=False),
        ),
        key=("ticket_id", "updated_at"),  # one row per create/update: a ticket may appear more than once a week
        ts_column="updated_at",
        file_glob="support_tickets/tickets_*.jsonl",
        file_format="jsonl",
        cadence="week",
        null_key_columns=("ticket_id", "account_id", "updated_at", "created_at"),
        ts_order=(("created_at", "updated_at"),),
    ),
}


def get_contract(source: str) -> Contract:
    """Return the contract of ``source``; the allow-list that keeps source names out of paths and SQL."""
    try:
        return CONTRACTS[source]
    except KeyError:
        raise ValueError(f"unknown source {source!r}; expected one of {SOURCES}") from None

