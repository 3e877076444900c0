"""Dashboard build, degradation and offline-safety tests against a real DuckDB snapshot file."""

import datetime as dt
import re
import threading
import warnings
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import httpx
import pytest

from seg_pipeline import atomic
from seg_pipeline.monitoring.tables import move_counts
from seg_pipeline.reports import dashboard, queries, sections
from seg_pipeline.reports.dashboard import build_dashboard, build_dashboard_from_file, describe_persona
from seg_pipeline.reports.serve import serve_dashboard
from seg_pipeline.segmentation.personas import is_at_risk
from seg_pipeline_tests.reports.conftest import build_warehouse

ALL_TABLES = (
    "assignments.account_segments", "assignments.segment_catalog", "monitoring.segment_migrations",
    "monitoring.drift_summary", "features.account_features", "staging.stg_crm_accounts", "model.training_runs",
    "sinks.writeback_stats", "sinks.alert_stats",
)


class _Resources(HTMLParser):
    """Collects every URL the browser would fetch on its own: script/img/iframe src, link href, CSS url()."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.tags: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        for key in ("src", "srcset", "data", "poster"):
            if a.get(key):
                self.urls.append((tag, a[key] or ""))
        if tag == "link" and a.get("href"):
            self.urls.append((tag, a["href"] or ""))


@pytest.fixture(scope="module")
def built(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> dashboard.DashboardResult:
    out = tmp_path_factory.mktemp("dash") / "dashboard.html"
    return build_dashboard_from_file(warehouse, out)


def test_full_warehouse_builds_every_chart_and_section(built: dashboard.DashboardResult) -> None:
    assert built.notes == ()
    assert built.n_sections == 6
    # sizes, sankey, profiles, quality+drift, churn, write-back, alerts
    assert built.n_charts == 7
    # weeks, revenue per segment / per AM, outliers, personas, catalog, recent retrains, movers
    assert built.n_tables == 8
    assert built.weeks == ("2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26")
    assert built.metadata()["latest_week"] == "2026-01-26"
    assert built.metadata()["notes"] == []
    text = built.path.read_text()
    assert "<title>Segment health</title>" in text
    assert "<h1>Segment health</h1>" in text
    assert text.count("<h2>") == 6
    assert text.count('class="plotly-graph-div"') == 7


def test_plotly_inlined_once_and_nothing_loaded_from_the_network(built: dashboard.DashboardResult) -> None:
    text = built.path.read_text()
    parser = _Resources()
    parser.feed(text)
    # no <script src>, <img src>, stylesheet: everything is inline; only the empty data: favicon
    assert parser.urls == [("link", "data:,")]
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert parser.tags["script"] >= 8
    assert text.count("window.PlotlyConfig") == 1  # the bundle is included with the first chart only
    assert "cdn.plot.ly/plotly" not in text.split("<script", 2)[1][:200]


def test_build_is_deterministic_and_atomic(warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = build_dashboard_from_file(warehouse, tmp_path / "a.html")
    b = build_dashboard_from_file(warehouse, tmp_path / "b.html")
    assert a.path.read_bytes() == b.path.read_bytes()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        build_dashboard_from_file(warehouse, tmp_path / "a.html", title="New title")
    assert a.path.read_bytes() == b.path.read_bytes()  # old page intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.html", "b.html"]  # no temp file left behind


def test_describe_persona_plain_language() -> None:
    z = {"weekly_active_users": 1.4, "exports": 0.9, "tickets_opened": -0.8, "mrr": 0.2, "csat_avg": float("nan")}
    assert describe_persona(z) == "high weekly active users, many exports; few tickets"
    assert describe_persona({"mrr": 0.1, "seats": -0.3}) == "close to the average account on every feature"
    assert describe_persona({"some_new_feature": -2.0}) == "low some new feature"
    assert describe_persona({f: 1.0 + i for i, f in enumerate(sections.PHRASES)}, max_terms=2).count(",") == 1


def test_profiles_and_personas_reflect_the_data(ro_con: duckdb.DuckDBPyConnection, built) -> None:
    week, prof = queries.segment_profiles(ro_con)
    assert week == "2026-01-26"
    by_name = prof.set_index("segment_name")
    assert by_name.loc["Power Users", "weekly_active_users"] > 1
    assert by_name.loc["Dormant", "weekly_active_users"] < -0.5
    assert by_name.loc["Declining / At-Risk", "tickets_opened"] > 1
    assert set(prof.columns) >= {"seats", "activation_score"}
    assert "logins" not in prof.columns  # clustering set
    text = built.path.read_text()
    assert "many tickets" in text
    assert "high weekly active users" not in text.split("Power Users")[0]


def test_drift_lines_per_population_reference_only(ro_con: duckdb.DuckDBPyConnection) -> None:
    drift = queries.drift_summary(ro_con)
    assert sorted(drift["reference"].unique()) == ["previous_week", "training"]  # segment:* rows excluded
    assert drift.loc[drift["reference"] == "training", "n_drifted"].tolist() == [2, 5, 10]


def test_churn_is_attributed_to_the_segment_of_the_week_before(ro_con: duckdb.DuckDBPyConnection) -> None:
    churn = queries.churn_by_segment(ro_con).set_index(["week_start", "segment_name"])
    # acc 20 (Power Users) churned in week 3, acc 21 (Steady Core) in week 4
    assert churn.loc[("2026-01-19", "Power Users"), "churned"] == 1
    assert churn.loc[("2026-01-19", "Power Users"), "churn_rate"] == pytest.approx(0.1)
    assert churn.loc[("2026-01-26", "Steady Core"), "churn_rate"] == pytest.approx(1 / 9)
    assert churn["churned"].sum() == 2
    assert "2026-01-05" not in churn.index.get_level_values(0)  # no previous week to attribute to


def test_top_movers_only_into_at_risk_segments_confirmed_first(ro_con: duckdb.DuckDBPyConnection, built) -> None:
    week, movers = queries.top_movers(ro_con)
    assert week == "2026-01-26"
    assert set(movers["to_name"]) == {"Declining / At-Risk", "Dormant"}
    assert len(movers) == 3
    assert movers["confirmed"].tolist() == [True, False, False]
    assert movers["account_name"].iloc[0] == "Company 13"
    assert "logins -39 %, 3 P1 tickets" in built.path.read_text()
    with pytest.raises(queries.Unavailable, match="no account moved into an at-risk segment"):
        queries.top_movers(ro_con, into_at_risk=lambda f, t: False)


def test_top_movers_use_the_one_at_risk_definition(tmp_path: Path) -> None:
    """The page flags the moves the account-manager alerts flag: ``personas.is_at_risk``, suffixed duplicates too."""
    path = build_warehouse(tmp_path / "wh.duckdb")
    con = duckdb.connect(str(path))
    con.execute("update monitoring.segment_migrations set to_name = 'Dormant 2' where to_name = 'Dormant'")
    con.execute("update monitoring.segment_migrations set to_name = 'churn watch' "
                "where to_name = 'Declining / At-Risk'")  # a keyword match once, not an at-risk persona
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        week, movers = queries.top_movers(con)
    finally:
        con.close()
    assert week == "2026-01-26"
    assert movers["to_name"].tolist() == ["Dormant 2"]
    assert movers["account_id"].tolist() == ["acc_000014"]
    assert is_at_risk("Dormant 2")
    assert not is_at_risk("churn watch")


def test_empty_warehouse_still_builds_with_notes(tmp_path: Path) -> None:
    res = build_dashboard_from_file(tmp_path / "missing.duckdb", tmp_path / "out" / "dashboard.html")
    text = res.path.read_text()
    assert res.n_charts == 0
    assert res.n_sections == 6
    for table in ALL_TABLES:
        assert table in text, table
    assert res.n_notes >= 8
    assert "No segment assignments yet" in text
    assert text.count("<h2>") == 6


def test_missing_and_empty_and_renamed_tables_degrade_per_part(tmp_path: Path) -> None:
    path = build_warehouse(
        tmp_path / "wh.duckdb", skip=("monitoring.segment_migrations", "model.training_runs", "sinks.alert_stats")
    )
    con = duckdb.connect(str(path))
    con.execute("delete from monitoring.drift_summary")
    con.execute("alter table sinks.writeback_stats rename column sent to sent_ok")
    con.close()
    res = build_dashboard_from_file(path, tmp_path / "d.html")
    text = res.path.read_text()
    # sizes, profiles, churn still drawn; sankey, quality+drift, write-back, alerts become notes
    assert res.n_charts == 3
    joined = " | ".join(res.notes)
    assert "monitoring.segment_migrations not built yet" in joined
    assert "model.training_runs not built yet" in joined
    assert "monitoring.drift_summary has no rows yet" in joined
    assert "could not read sinks.writeback_stats" in joined
    assert "sent" in joined
    assert "sinks.alert_stats not built yet" in joined
    assert text.count('<p class="note">') == res.n_notes


def test_hostile_segment_names_are_escaped(tmp_path: Path) -> None:
    path = build_warehouse(tmp_path / "wh.duckdb")
    con = duckdb.connect(str(path))
    evil = "</script><img src=http://evil.example/x.png>"
    con.execute("update assignments.account_segments set segment_name = ? where segment_id = 1", [evil])
    con.execute("update monitoring.segment_migrations set explanation = ?", [evil])
    # nulls where booleans are expected must not warn or crash either
    con.execute("update model.training_runs set promoted = null, gate_reasons = null where model_version = '2'")
    con.execute("update sinks.alert_stats set blocked = null")
    con.execute("update monitoring.segment_migrations set confirmed = null, margin = null where account_id = ?",
                ["acc_000013"])
    con.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = build_dashboard_from_file(path, tmp_path / "d.html")
    assert res.notes == ()
    assert res.n_charts == 7
    parser = _Resources()
    parser.feed(res.path.read_text())
    assert parser.urls == [("link", "data:,")]
    assert "<img" not in res.path.read_text()


def test_serve_dashboard_binds_loopback_and_serves_only_its_directory(built, tmp_path: Path) -> None:
    server, url = serve_dashboard(built.path)
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/dashboard.html")
        r = httpx.get(url, timeout=10)
        assert r.status_code == 200
        assert "<h1>Segment health</h1>" in r.text
        assert r.headers["cache-control"] == "no-store"
        base = url.rsplit("/", 1)[0]
        assert httpx.get(base + "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", timeout=10).status_code == 404
    finally:
        server.close()
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)
    server.server_close()  # idempotent
    with pytest.raises(FileNotFoundError):
        serve_dashboard(tmp_path / "nope.html")


def test_serve_forever_blocks_on_the_background_server_until_closed(built) -> None:
    """`seg dashboard` calls serve_forever() on the returned server; it must wait, not start a second loop."""
    server, url = serve_dashboard(built.path)
    waiter = threading.Thread(target=server.serve_forever, daemon=True)
    waiter.start()
    try:
        assert httpx.get(url, timeout=10).status_code == 200
        waiter.join(timeout=0.2)
        assert waiter.is_alive()
    finally:
        server.server_close()  # what the CLI does on Ctrl-C
    waiter.join(timeout=5)
    assert not waiter.is_alive()


def test_build_from_a_read_only_connection_escapes_the_title(ro_con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    res = build_dashboard(ro_con, tmp_path / "nested" / "x.html", title="Acme <segments> & co")
    text = res.path.read_text()
    assert "<title>Acme &lt;segments&gt; &amp; co</title>" in text
    assert "<h1>Acme &lt;segments&gt; &amp; co</h1>" in text
    assert res.n_charts == 7
    assert res.notes == ()


def test_a_renamed_segment_is_one_series_and_only_segment_moves_flow(tmp_path: Path) -> None:
    """Week 1 called segment 2 something else; micro-community and outlier rows are not moves (as `seg status`)."""
    path = build_warehouse(tmp_path / "wh.duckdb")
    con = duckdb.connect(str(path))
    con.execute("update assignments.account_segments set segment_name = 'Support-Heavy Strugglers 2' "
                "where segment_id = 2 and week_start = '2026-01-05'")
    con.execute("""insert into monitoring.segment_migrations (account_id, week_start, from_segment, to_segment,
                   from_name, to_name, kind, margin, confirmed, explanation)
                   values ('acc_000001', '2026-01-26', null, 1, 'no micro-community', 'micro-community 1',
                           'micro_change', null, false, null),
                          ('acc_000002', '2026-01-26', 1, 1, 'Steady Core', 'Outlier', 'outlier_enter', null,
                           false, null)""")
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        sizes = queries.segment_sizes(con)
        flows = queries.migration_flows(con)
        ledger = con.execute("select count(*) filter (where kind = 'segment'), count(*) filter (where confirmed) "
                             "from monitoring.segment_migrations where week_start = '2026-01-26'").fetchall()[0]
    finally:
        con.close()
    assert sizes.loc[sizes["segment_id"] == 2, "segment_name"].unique().tolist() == ["Declining / At-Risk"]
    latest = flows[flows["week_start"] == "2026-01-26"]
    assert "micro-community 1" not in set(latest["to_name"])
    assert "Outlier" not in set(latest["to_name"])
    assert (int(latest["moves"].sum()), int(latest["confirmed"].sum())) == ledger == (3, 1)
    res = build_dashboard_from_file(path, tmp_path / "d.html")
    text = res.path.read_text()
    assert "Segment moves into the week of 2026-01-26: 3 moves, 1 confirmed" in text
    assert "micro-community changes apart: 1" in text  # shown beside the moves, never inside them
    con = duckdb.connect(str(path), read_only=True)
    try:
        counts = move_counts(con, dt.date(2026, 1, 26)).iloc[0]
    finally:
        con.close()
    assert (counts["segment_moves"], counts["confirmed_moves"], counts["micro_changes"]) == (3, 1, 1)
    assert counts["outliers_entered"] == 1
    assert res.latest_moves == 3
