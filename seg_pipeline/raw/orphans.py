"""Orphan ids: rows of a feed whose ``account_id`` matches no account in the week's CRM snapshot.

A few orphans are normal in real exports (test accounts, deleted or merged accounts, a CRM that lags the product):
they are counted and reported as a warning, never silently dropped. Many orphans mean a broken id mapping (the
wrong id column, a join that failed), so every account looks inactive: above ``max_share`` the week is blocked.
The share is judged by the lower bound of its 95 % Wilson interval, so a week with three tickets, one of them for
an unknown account, warns instead of blocking, while a feed that is mostly orphans blocks at any volume.
"""

import math
from dataclasses import dataclass
from datetime import date

import duckdb

from seg_pipeline.outcomes import CheckOutcome, EngineerAlert, Json
from seg_pipeline.warehouse.duck import qualified

ORPHAN_CHECKED = ("product_events", "product_usage", "support_tickets")
_Z = 1.96  # 95 % two-sided
SAMPLE_IDS = 5


@dataclass(frozen=True)
class OrphanCount:
    """One feed's week: its rows, how many of them (and which ids) the CRM snapshot does not know."""

    source: str
    rows: int
    orphan_rows: int
    orphan_ids: int
    crm_accounts: int
    sample_ids: tuple[str, ...] = ()

    @property
    def share(self) -> float:
        """Orphan rows / rows (0 for an empty feed)."""
        return self.orphan_rows / self.rows if self.rows else 0.0


def wilson_lower(hits: int, n: int) -> float:
    """Lower bound of the 95 % Wilson score interval of ``hits / n`` (0 when ``n`` is 0)."""
    if n <= 0:
        return 0.0
    p = hits / n
    denom = 1 + _Z**2 / n
    centre = p + _Z**2 / (2 * n)
    margin = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n**2))
    return max(0.0, (centre - margin) / denom)


def count_orphans(con: duckdb.DuckDBPyConnection, source: str, week: date) -> OrphanCount:
    """Count the week's rows of ``raw.<source>`` whose account is absent from the week's ``raw.crm_accounts``."""
    if source not in ORPHAN_CHECKED:
        raise ValueError(f"orphan ids are counted for {', '.join(ORPHAN_CHECKED)}, not {source!r}")
    feed, crm = qualified("raw", source), qualified("raw", "crm_accounts")
    # names are qualified(); the week is a bound parameter
    sql = f"""
        WITH crm AS (SELECT DISTINCT account_id FROM {crm} WHERE week_start = $week),
        feed AS (
            SELECT f.account_id, c.account_id IS NULL AS orphan
            FROM {feed} AS f LEFT JOIN crm AS c ON f.account_id = c.account_id
            WHERE f.week_start = $week
        )
        SELECT count(*), count(*) FILTER (WHERE orphan), count(DISTINCT account_id) FILTER (WHERE orphan),
               (SELECT count(*) FROM crm),
               list(DISTINCT account_id ORDER BY account_id) FILTER (WHERE orphan)
        FROM feed
    """  # noqa: S608
    rows, orphan_rows, orphan_ids, crm_accounts, ids = con.execute(sql, {"week": week}).fetchall()[0]
    return OrphanCount(source, int(rows), int(orphan_rows), int(orphan_ids), int(crm_accounts),
                       tuple((ids or [])[:SAMPLE_IDS]))


def orphan_check(count: OrphanCount, week: date, max_share: float) -> CheckOutcome:
    """WARN when some rows are orphans; ERROR (blocking) when the share is credibly above ``max_share``."""
    metadata = {
        "rows": count.rows, "orphan_rows": count.orphan_rows, "orphan_ids": count.orphan_ids,
        "orphan_share": round(count.share, 4), "max_share": max_share, "crm_accounts": count.crm_accounts,
        "sample_orphan_ids": Json(list(count.sample_ids)),
    }
    if count.orphan_rows == 0:
        return CheckOutcome("orphan_ids", True, metadata=metadata)
    where = f"{count.source} for week {week}"
    if count.crm_accounts == 0:
        description = (f"{where}: no CRM snapshot is loaded for this week, so none of its {count.rows} rows can be "
                       f"attributed; land crm_accounts/accounts_{week}.csv (or re-run `seg import`) and re-run "
                       "the week.")
    elif wilson_lower(count.orphan_rows, count.rows) > max_share:
        description = (f"{where}: {count.orphan_rows} of {count.rows} rows ({count.share:.1%}) belong to "
                       f"{count.orphan_ids} account id(s) unknown to the CRM (e.g. {', '.join(count.sample_ids)}), "
                       f"above SEG_ORPHAN_MAX_SHARE={max_share:.0%}; check the account id mapping of this export "
                       "and re-run the week.")
    else:
        return CheckOutcome("orphan_ids", False, metadata=metadata, error=False, description=(
            f"{where}: {count.orphan_rows} of {count.rows} rows ({count.share:.1%}) belong to {count.orphan_ids} "
            f"account id(s) unknown to the CRM; they are kept in raw but count for no account."))
    alert = EngineerAlert(week_start=week, reason=f"orphan_ids_{count.source}",
                          subject=f"[seg_pipeline] {count.source}: too many unknown account ids in {week}",
                          body=f"{description} Training, CRM write-back and alerts are blocked for this week.")
    return CheckOutcome("orphan_ids", False, metadata=metadata, description=description, alert=alert)
