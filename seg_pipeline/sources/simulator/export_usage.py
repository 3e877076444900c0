"""Product usage as a product-analytics tool exports it: daily counts per product feature, keyed by subscription.

The simulator's events use the contract's 12 feature names and 5 event types; a real product has its own, larger
vocabulary. Each internal feature splits into 2-4 product features with fixed weights (a multinomial split of the
day's count, seeded per day), and the four non-feature event types become one product feature each. The mapping is
public (:data:`PRODUCT_FEATURES`, :data:`EVENT_TYPE_FEATURES`) so docs and mapping files can state it.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from seg_pipeline.sources.contracts import EVENT_TYPES, FEATURE_NAMES
from seg_pipeline.sources.simulator.config import days

# internal feature -> (product feature, share of the internal feature's uses, mean seconds per use)
PRODUCT_FEATURES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "dashboards": (("Dashboard View", 0.45, 75), ("Dashboard Edit", 0.25, 210), ("Chart Builder", 0.2, 260),
                   ("Dashboard Sharing", 0.1, 40)),
    "reports": (("Report Builder", 0.4, 300), ("Report View", 0.4, 90), ("Scheduled Reports", 0.2, 45)),
    "alerts": (("Alert Rules", 0.4, 120), ("Alert Inbox", 0.6, 35)),
    "workflows": (("Workflow Editor", 0.3, 280), ("Workflow Runs", 0.4, 50), ("Automation Templates", 0.15, 140),
                  ("Approval Flows", 0.15, 60)),
    "integrations": (("Integration Setup", 0.2, 330), ("Webhooks", 0.3, 80), ("Data Sync", 0.5, 55)),
    "data_import": (("Data Import", 0.6, 180), ("Spreadsheet Upload", 0.4, 120)),
    "collaboration": (("Comments", 0.5, 45), ("Mentions", 0.3, 20), ("Shared Workspaces", 0.2, 150)),
    "mobile_app": (("Mobile App", 0.7, 95), ("Push Notifications", 0.3, 8)),
    "sso": (("SSO Settings", 0.5, 160), ("SCIM Provisioning", 0.5, 70)),
    "audit_log": (("Audit Log", 0.6, 110), ("Activity History", 0.4, 65)),
    "custom_fields": (("Custom Fields", 0.6, 130), ("Field Templates", 0.4, 90)),
    "ai_assistant": (("AI Assistant", 0.5, 140), ("AI Summaries", 0.3, 35), ("Smart Suggestions", 0.2, 15)),
}
# event type (other than feature_use) -> (product feature, mean seconds per event)
EVENT_TYPE_FEATURES: dict[str, tuple[str, float]] = {
    "login": ("Session Start", 540), "api_call": ("API Access", 1), "export": ("CSV Export", 25),
    "invite": ("Invite Teammate", 30),
}
FEATURE_USE = "feature_use"
# the product vocabulary: split features in contract order, then the event-type features
VOCABULARY: tuple[str, ...] = tuple(p[0] for f in FEATURE_NAMES for p in PRODUCT_FEATURES[f]) + tuple(
    name for name, _ in EVENT_TYPE_FEATURES.values())
_MEAN_SECS = np.array([p[2] for f in FEATURE_NAMES for p in PRODUCT_FEATURES[f]]
                      + [secs for _, secs in EVENT_TYPE_FEATURES.values()])
# codes of one event's source: 0..11 internal features (contract order), then the non-feature event types
_TYPE_CODE = {t: len(FEATURE_NAMES) + i for i, t in enumerate(t for t in EVENT_TYPES if t != FEATURE_USE)}
_N_CODES = len(FEATURE_NAMES) + len(_TYPE_CODE)
_SPLIT_START = np.cumsum([0] + [len(PRODUCT_FEATURES[f]) for f in FEATURE_NAMES])


@dataclass
class DayUsage:
    """One day's usage rows: account number, product feature (index into :data:`VOCABULARY`), count, seconds."""

    day: int  # epoch day
    account: np.ndarray
    feature: np.ndarray
    count: np.ndarray
    duration: np.ndarray


def _codes(table: pa.Table, column: str) -> tuple[np.ndarray, list[str]]:
    """Per-row dictionary value of a dictionary-encoded column as positions in its dictionary (-1 = null)."""
    arr = table.column(column).combine_chunks()
    if not isinstance(arr, pa.DictionaryArray):
        arr = pc.dictionary_encode(arr)
    return np.asarray(pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False)), arr.dictionary.to_pylist()


def _source_codes(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(account number, source code) of every event: internal feature for feature uses, else the event type."""
    acc_pos, acc_dict = _codes(table, "account_id")
    acc_num = np.array([int(a.split("_", 1)[1]) for a in acc_dict], dtype=np.int64)[acc_pos]
    type_pos, type_dict = _codes(table, "event_type")
    feat_pos, feat_dict = _codes(table, "feature_name")
    type_code = np.array([_TYPE_CODE.get(t, -1) for t in type_dict], dtype=np.int64)[type_pos]
    feat_code = np.array([FEATURE_NAMES.index(f) for f in feat_dict] + [-1], dtype=np.int64)[feat_pos]
    return acc_num, np.where(type_code >= 0, type_code, feat_code)


def day_usage(gen: np.random.Generator, day: date, table: pa.Table, drop_types: frozenset[str]) -> DayUsage:
    """Aggregate one day of events to product-feature counts per account (``drop_types`` never show up)."""
    acc_num, code = _source_codes(table)
    keep = code >= 0
    for event_type in drop_types:
        keep &= code != _TYPE_CODE[event_type]
    keys, count = np.unique(acc_num[keep] * _N_CODES + code[keep], return_counts=True)
    account, code = keys // _N_CODES, keys % _N_CODES
    out_acc, out_feat, out_count = [], [], []
    fixed = code >= len(FEATURE_NAMES)
    out_acc.append(account[fixed])
    out_feat.append(_SPLIT_START[-1] + code[fixed] - len(FEATURE_NAMES))
    out_count.append(count[fixed])
    for f, name in enumerate(FEATURE_NAMES):
        sel = code == f
        if not sel.any():
            continue
        shares = np.array([p[1] for p in PRODUCT_FEATURES[name]])
        split = gen.multinomial(count[sel], shares / shares.sum())
        out_acc.append(np.repeat(account[sel], split.shape[1]))
        out_feat.append(np.tile(np.arange(split.shape[1]) + _SPLIT_START[f], int(sel.sum())))
        out_count.append(split.ravel())
    acc_arr, feat_arr, cnt_arr = (np.concatenate(x) for x in (out_acc, out_feat, out_count))
    nz = cnt_arr > 0
    acc_arr, feat_arr, cnt_arr = acc_arr[nz], feat_arr[nz], cnt_arr[nz]
    duration = np.rint(cnt_arr * _MEAN_SECS[feat_arr] * gen.lognormal(0.0, 0.35, cnt_arr.size)).astype(np.int64)
    return DayUsage(days(day), acc_arr, feat_arr, cnt_arr.astype(np.int64), duration)
