"""Measure the simulator (wall time, rows/s, peak RSS) and, with ``--quality``, check persona recoverability.

The quality check computes an approximation of ``features.account_features`` straight from the landing files
with DuckDB (the real SQL model lives in ``dbt_like_sql/features``), clusters it with K-means on log/standardized
features and reports the adjusted Rand index against the planted personas per week. Measures, never asserts.

    .venv/bin/python benchmarks/bench_simulate.py --accounts 100000 --weeks 8 --out /tmp/sim
    .venv/bin/python benchmarks/bench_simulate.py --accounts 5000 --weeks 8 --quality
"""

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from seg_pipeline.sources.simulator import SimulationConfig, simulate

HEAVY = ("weekly_active_users", "exports", "invites", "tickets_opened", "p1_tickets", "median_resolution_hours",
         "open_backlog", "seats", "mrr", "tenure_weeks")
CLUSTER_FEATURES = ("weekly_active_users", "active_days", "feature_breadth", "key_feature_adoption", "api_share",
                    "exports", "invites", "wau_trend", "tickets_opened", "p1_tickets", "median_resolution_hours",
                    "csat_avg", "open_backlog", "seats", "seat_utilisation", "mrr", "tenure_weeks",
                    "activation_score", "support_load_score")

FEATURES_SQL = """
with ev as (
    select account_id, cast(date_trunc('week', event_ts at time zone 'UTC') as date) as week_start,
           user_id, event_type, feature_name, cast(event_ts at time zone 'UTC' as date) as day
    from read_parquet($events)
), usage as (
    select account_id, week_start,
           count(distinct user_id) as weekly_active_users,
           count(distinct day) as active_days,
           count(distinct feature_name) as feature_breadth,
           count(distinct feature_name) filter (where feature_name in
               ('dashboards', 'workflows', 'integrations', 'collaboration')) / 4.0 as key_feature_adoption,
           count(*) filter (where event_type = 'api_call') / count(*) as api_share,
           count(*) filter (where event_type = 'export') as exports,
           count(*) filter (where event_type = 'invite') as invites
    from ev group by all
), crm as (
    select account_id, cast(regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})', 1) as date) as week_start,
           seats, mrr, signup_date
    from read_csv($crm, filename = true, types = {'signup_date': 'DATE'})
), tk_all as (
    select *, cast(regexp_extract(filename, '(\\d{4}-\\d{2}-\\d{2})', 1) as date) as file_week
    from read_json($tickets, format = 'newline_delimited', filename = true,
        columns = {ticket_id: 'VARCHAR', account_id: 'VARCHAR', created_at: 'TIMESTAMPTZ',
                   updated_at: 'TIMESTAMPTZ', resolved_at: 'TIMESTAMPTZ', priority: 'VARCHAR',
                   category: 'VARCHAR', status: 'VARCHAR', csat: 'INTEGER'})
), base as (
    select c.account_id, c.week_start, c.seats, c.mrr,
           (c.week_start + 7 - c.signup_date) // 7 as tenure_weeks,
           coalesce(u.weekly_active_users, 0) as weekly_active_users,
           coalesce(u.active_days, 0) as active_days,
           coalesce(u.feature_breadth, 0) as feature_breadth,
           coalesce(u.key_feature_adoption, 0) as key_feature_adoption,
           coalesce(u.api_share, 0) as api_share,
           coalesce(u.exports, 0) as exports,
           coalesce(u.invites, 0) as invites
    from crm c left join usage u using (account_id, week_start)
), tstate as (  -- latest known state of each ticket as of each week's end
    select b.account_id, b.week_start, t.ticket_id, t.created_at, t.resolved_at, t.priority, t.status, t.csat,
           row_number() over (partition by b.account_id, b.week_start, t.ticket_id
                              order by t.updated_at desc) as rn
    from base b join tk_all t on t.account_id = b.account_id and t.file_week <= b.week_start
), tk as (
    select account_id, week_start,
        count(*) filter (where created_at >= week_start and created_at < week_start + 7) as tickets_opened,
        count(*) filter (where created_at >= week_start and created_at < week_start + 7 and priority = 'P1')
            as p1_tickets,
        coalesce(median(epoch(resolved_at - created_at) / 3600.0)
            filter (where resolved_at >= week_start - 21 and resolved_at < week_start + 7), 0)
            as median_resolution_hours,
        coalesce(avg(csat) filter (where resolved_at >= week_start - 77), 4.0) as csat_avg,
        count(*) filter (where status in ('open', 'pending')) as open_backlog
    from tstate where rn = 1 group by all
)
select b.*, coalesce(tk.tickets_opened, 0) as tickets_opened, coalesce(tk.p1_tickets, 0) as p1_tickets,
       coalesce(tk.median_resolution_hours, 0) as median_resolution_hours,
       coalesce(tk.csat_avg, 4.0) as csat_avg, coalesce(tk.open_backlog, 0) as open_backlog
from base b left join tk using (account_id, week_start)
order by week_start, account_id
"""


def approx_features(landing: Path) -> pd.DataFrame:
    """Account-week features close to the registry definitions, computed directly from landing files."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    frame = con.execute(FEATURES_SQL, {
        "events": str(landing / "product_events" / "*.parquet"),
        "crm": str(landing / "crm_accounts" / "*.csv"),
        "tickets": str(landing / "support_tickets" / "*.jsonl"),
    }).df()
    frame = frame.sort_values(["account_id", "week_start"]).reset_index(drop=True)
    prev = frame.groupby("account_id")["weekly_active_users"].transform(
        lambda s: s.shift(1).rolling(4, min_periods=1).mean())
    frame["wau_trend"] = np.where(prev > 0, frame["weekly_active_users"] / prev - 1.0, 0.0)
    frame["seat_utilisation"] = np.minimum(frame["weekly_active_users"] / frame["seats"].clip(lower=1), 1.5)
    frame["activation_score"] = 25 * (frame["feature_breadth"] / 12 + frame["key_feature_adoption"]
                                      + frame["active_days"] / 7 + frame["seat_utilisation"].clip(upper=1))
    per_seat = (frame["tickets_opened"] + 2 * frame["p1_tickets"] + frame["open_backlog"]) / (
        1 + frame["seats"] / 10)
    frame["support_load_score"] = 100 * np.minimum(
        1.0, 0.75 * np.minimum(per_seat / 3, 1) + 0.25 * np.minimum(frame["median_resolution_hours"] / 96, 1))
    return frame


def persona_ari(landing: Path, truth: Path, k: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Per-week ARI of K-means (log1p heavy-tailed, standardized) against the planted personas."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    feats = approx_features(landing)
    personas = pd.read_parquet(truth / "personas.parquet")
    personas["week_start"] = pd.to_datetime(personas["week_start"])
    feats["week_start"] = pd.to_datetime(feats["week_start"])
    data = feats.merge(personas, on=["account_id", "week_start"], how="inner")
    rows = []
    for week, part in data.groupby("week_start"):
        x = part[list(CLUSTER_FEATURES)].astype(float).copy()
        for col in HEAVY:
            x[col] = np.log1p(x[col].clip(lower=0))
        z = StandardScaler().fit_transform(x.to_numpy())
        main = ~part["persona"].isin(["outlier"]).to_numpy()
        n_k = k or part["persona"].nunique()
        labels = KMeans(n_clusters=n_k, n_init=10, random_state=seed).fit_predict(z)
        rows.append({"week_start": week.date(), "accounts": len(part),
                     "ari_all": adjusted_rand_score(part["persona"], labels),
                     "ari_no_outliers": adjusted_rand_score(part["persona"][main], labels[main])})
    return pd.DataFrame(rows)


def main() -> None:
    """Simulate the landing files once, print throughput and peak RSS, then optionally the persona ARI."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events-scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None, help="directory to keep (default: a temp dir)")
    parser.add_argument("--quality", action="store_true", help="also report K-means ARI per week")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_sim_"))
    config = SimulationConfig(accounts=args.accounts, weeks=args.weeks, seed=args.seed,
                              events_scale=args.events_scale)
    t0 = time.perf_counter()
    result = simulate(config, out / "landing", out / "truth", progress=lambda m: print(f"  {m}", flush=True))
    wall = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = sum(result.counts.values())
    size_mb = sum(p.stat().st_size for ps in result.files.values() for p in ps) / 1e6
    print(f"accounts={args.accounts} weeks={args.weeks} wall={wall:.1f}s rows={rows:,} "
          f"({rows / wall:,.0f} rows/s) events={result.counts['product_events']:,} "
          f"events/account-week={result.counts['product_events'] / result.counts['crm_accounts']:.1f} "
          f"peak_rss={rss_mb:,.0f} MB landing={size_mb:,.1f} MB")
    if args.quality:
        t1 = time.perf_counter()
        print(persona_ari(out / "landing", out / "truth").to_string(index=False))
        print(f"quality check {time.perf_counter() - t1:.1f}s")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
