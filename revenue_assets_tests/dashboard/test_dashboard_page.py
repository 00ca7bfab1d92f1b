"""The dashboard page in a real browser, on a warehouse built by a real sync from the sandbox.

The whole graph runs through Dagster as `revenue-assets sync` runs it: the Stripe tables over
the company's partitions (the suite's shared sync, copied), then every downstream asset, the
dashboard included. The page the asset wrote is then opened from disk in headless Chromium.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import orjson
import pytest

from revenue_assets.dashboard import formatting
from revenue_assets.dashboard.build import build_dashboard, dashboard_path, stamp_path
from revenue_assets.dashboard.render import HEADLINES, TILES
from revenue_assets.definitions import defs
from revenue_assets.defs.dashboard.assets import KEY
from revenue_assets.defs.resources import (
    RevenueResource,
)
from revenue_assets.state.store import StateStore
from revenue_assets_tests.dashboard.browser import chromium, screenshot, visit
from revenue_assets_tests.helpers import clean_env, run_cli
from revenue_assets_tests.synced_fixtures import SyncedCompany, raw_resources

pytestmark = pytest.mark.long

WEBHOOK_AT = 1_790_000_000.0  # when the receiver "stored" the webhook event added below

# Per tile: a drawn plotly chart, traces holding numbers, and marks (paths) in its SVG.
DRAWN = """() => Array.from(document.querySelectorAll('[data-tile]')).map(tile => {
  const plot = tile.querySelector('.js-plotly-plot');
  const traces = plot && plot._fullData ? plot._fullData : [];
  const numbers = traces.map(t => {
    const values = t.orientation === 'h' ? t.x : t.y;
    return Array.from(values || []).filter(v => typeof v === 'number' && isFinite(v)).length;
  });
  const marks = Array.from(tile.querySelectorAll('svg.main-svg g.cartesianlayer g.trace path'))
    .filter(p => (p.getAttribute('d') || '').length > 8).length;
  return {
    id: tile.dataset.tile,
    container: !!tile.querySelector('.plot-container svg.main-svg'),
    traces: traces.length,
    numbers: numbers.reduce((a, b) => a + b, 0),
    marks: marks,
  };
})"""


@dataclass(frozen=True)
class Built:
    """The warehouse, the page the asset wrote, and the asset's materialization metadata."""

    database: Path
    state: Path
    page: Path
    metadata: dict[str, Any]

    def rows(self, sql: str) -> list[dict[str, Any]]:
        connection = duckdb.connect(str(self.database), read_only=True)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            cursor = connection.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            connection.close()

    def latest_metrics(self) -> dict[str, Any]:
        return self.rows(
            "SELECT * FROM revenue_analytics.revenue_metrics ORDER BY month DESC LIMIT 1"
        )[0]


@pytest.fixture(scope="module")
def built(
    synced_session_company: SyncedCompany,
    sandbox_session,
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """The sandbox company synced through Dagster, then every downstream asset built."""
    database, state = synced_session_company.copy_to(tmp_path_factory.mktemp("dashboard"))
    as_of = datetime.fromtimestamp(sandbox_session.world.now, UTC).isoformat()
    resources = {
        **raw_resources(sandbox_session, database, state=state),
        "revenue": RevenueResource(as_of=as_of),
    }
    assets = [*defs.assets, *defs.asset_checks]
    # The receiver stored one event (the newest of the account) after the sync.
    page = httpx.get(
        f"{sandbox_session.base_url}/v1/events",
        params={"limit": 1},
        auth=(sandbox_session.secret_key, ""),
    ).json()
    inbox = StateStore(state)
    try:
        inbox.add(orjson.dumps(page["data"][0]), "webhook", received_at=WEBHOOK_AT)
    finally:
        inbox.close()
    with dg.instance_for_test() as instance:
        downstream = dg.materialize(
            assets,
            instance=instance,
            resources=resources,
            selection=dg.AssetSelection.key_prefixes(["stripe"]).downstream(include_self=False),
        )
        assert downstream.success
        events = [e for e in downstream.get_asset_materialization_events() if e.asset_key == KEY]
    assert len(events) == 1
    materialization = events[0].event_specific_data.materialization
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    return Built(database, state, Path(metadata["path"]), metadata)


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def browser_visit(built: Built, browser, tmp_path_factory: pytest.TempPathFactory):
    """The page opened once in Chromium for the checks below, plus its screenshot."""
    shot = tmp_path_factory.mktemp("screenshot") / "dashboard.png"
    with visit(built.page, browser) as seen:
        drawn = seen.page.evaluate(DRAWN)
        headlines = seen.page.eval_on_selector_all(
            "[data-metric]",
            "cards => cards.map(c => [c.dataset.metric, c.dataset.value, "
            "c.querySelector('.figure').textContent.trim()])",
        )
        freshness = seen.page.eval_on_selector_all(
            "[data-freshness]", "items => items.map(i => [i.dataset.freshness, i.textContent])"
        )
        bridge = seen.page.evaluate(
            "() => Array.from(document.getElementById('mrr-bridge')._fullData[0].y)"
        )
        dunning = seen.page.evaluate(
            "() => document.getElementById('dunning')._fullData.map(t => "
            "({x: Array.from(t.x), y: Array.from(t.y), text: t.text}))"
        )
        screenshot(seen.page, shot)
        yield {
            "dunning": dunning,
            "seen": seen,
            "drawn": drawn,
            "headlines": headlines,
            "freshness": dict(freshness),
            "bridge": bridge,
            "screenshot": shot,
        }


def test_the_asset_writes_the_page_beside_the_warehouse(built: Built) -> None:
    assert built.page == dashboard_path(built.database)
    assert built.page.is_file() and built.page.stat().st_size == built.metadata["size_bytes"]
    html = built.page.read_text()
    # self-contained: plotly.js inlined, nothing referenced from the network
    assert "plotly.js v" in html
    assert "<script src" not in html and "<link" not in html
    assert "cdn." not in html.split("<script>", 1)[0]


def test_the_page_loads_offline_without_errors_or_requests(built: Built, browser_visit) -> None:
    seen = browser_visit["seen"]
    assert seen.console_errors == []
    assert seen.page_errors == []
    # the page itself, then only its build stamp beside it (polled to reload when rebuilt)
    page, *polls = seen.requests
    assert page == built.page.resolve().as_uri()
    stamp = stamp_path(built.page).resolve().as_uri()
    assert polls and {url.split("?", 1)[0] for url in polls} == {stamp}


def test_an_open_page_reloads_itself_when_rebuilt(built: Built, browser, tmp_path: Path) -> None:
    page = tmp_path / "revenue_dashboard.html"
    page.write_bytes(built.page.read_bytes())
    stamp_path(page).write_bytes(stamp_path(built.page).read_bytes())
    with visit(page, browser) as seen:
        first = seen.page.get_attribute("body", "data-build")
        assert first and first in stamp_path(page).read_text()
        time.sleep(4)  # a few polls of an unchanged stamp: no reload
        assert seen.page.get_attribute("body", "data-build") == first
        build_dashboard(
            built.database,
            stripe_schema="stripe",
            revenue_schema="revenue_analytics",
            base_currency="USD",
            output=page,
        )
        seen.page.wait_for_function(
            "first => document.body.dataset.build && document.body.dataset.build !== first",
            arg=first,
            timeout=20_000,
        )
        seen.page.wait_for_selector("body[data-charts=ready]", timeout=60_000)
        assert seen.page.get_attribute("body", "data-build") in stamp_path(page).read_text()
        assert seen.console_errors == [] and seen.page_errors == []


def test_every_tile_has_a_drawn_chart(browser_visit) -> None:
    drawn = {tile["id"]: tile for tile in browser_visit["drawn"]}
    assert list(drawn) == [tile.id for tile in TILES]
    for tile_id, tile in drawn.items():
        assert tile["container"], tile_id
        assert tile["traces"] >= 1, tile_id
        assert tile["numbers"] >= 1, tile_id
        assert tile["marks"] >= 1, tile_id


def test_headline_figures_equal_the_latest_month_of_revenue_metrics(
    built: Built, browser_visit
) -> None:
    latest = built.latest_metrics()
    cards = {metric: (value, text) for metric, value, text in browser_visit["headlines"]}
    assert list(cards) == [column for column, _, _ in HEADLINES]
    currency = latest["currency"]
    for column, _, kind in HEADLINES:
        value, text = cards[column]
        expected = latest[column]
        assert value == ("" if expected is None else str(expected)), column
        if kind == "money":
            assert text == formatting.money(expected, currency), column
        elif kind == "percent":
            assert text == formatting.percent(expected), column
        else:
            assert text == formatting.count(expected), column
    # a company with paying customers: plausible, non-trivial figures
    assert latest["mrr"] > 0 and latest["customers"] > 0
    assert Decimal(cards["arr"][0]) == latest["arr"]


def test_the_asset_metadata_summarizes_the_same_month(built: Built) -> None:
    latest = built.latest_metrics()
    assert built.metadata["latest_month"] == str(latest["month"])
    assert built.metadata["mrr"] == pytest.approx(float(latest["mrr"]))
    assert built.metadata["arr"] == pytest.approx(float(latest["arr"]))
    assert built.metadata["net_revenue"] == pytest.approx(float(latest["net_revenue"]))
    assert built.metadata["customers"] == latest["customers"]
    assert built.metadata["base_currency"] == latest["currency"] == "USD"


def test_the_mrr_bridge_draws_the_tables_movements(built: Built, browser_visit) -> None:
    """The waterfall's bars are revenue_metrics' own values: last month's MRR, the movements,
    the FX effect and this month's MRR (plotly adds nothing)."""
    months = built.rows("SELECT * FROM revenue_analytics.revenue_metrics ORDER BY month")
    latest, previous = months[-1], months[-2]
    columns = ("new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr")
    expected = [
        previous["mrr"],
        *(latest[c] for c in columns),
        latest["fx_effect_mrr"],
        latest["mrr"],
    ]
    assert browser_visit["bridge"] == pytest.approx([float(v) for v in expected])


def test_the_dunning_tile_draws_the_failed_payments_by_month(built: Built, browser_visit) -> None:
    """The failed payments' monthly amount, count and recovered share, as payment_failures
    holds them: the generated company's declined renewals and payments fill some months."""
    failures = built.rows("SELECT * FROM revenue_analytics.payment_failures")
    assert failures, "the generated company declines some payments"
    months = sorted({row["month"] for row in failures})
    amount, share = browser_visit["dunning"]
    assert amount["x"] == share["x"] == [m.isoformat() for m in months]
    for n, month in enumerate(months):
        rows = [row for row in failures if row["month"] == month]
        recovered = sum(row["recovered"] for row in rows)
        assert amount["y"][n] == pytest.approx(float(sum(r["amount"] or 0 for r in rows)))
        assert amount["text"][n] == f"{len(rows):,} failed"
        assert share["y"][n] == pytest.approx(recovered / len(rows), abs=1e-6)


def test_freshness_shows_last_sync_and_last_webhook(built: Built, browser_visit) -> None:
    freshness = browser_visit["freshness"]
    synced = built.rows(
        "SELECT max(_synced_at) AS at FROM (SELECT _synced_at FROM stripe.charge "
        "UNION ALL SELECT _synced_at FROM stripe.invoice UNION ALL "
        "SELECT _synced_at FROM stripe.event)"
    )[0]["at"]
    assert formatting.moment(synced)[:13] in freshness["Last sync"]  # to the hour at least
    assert freshness["Last webhook"].endswith(formatting.moment(WEBHOOK_AT))
    assert freshness["Base currency"].endswith("USD")


def test_a_screenshot_is_written(browser_visit) -> None:
    shot: Path = browser_visit["screenshot"]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == 1400 and height > 2000  # the whole page, every tile


def test_the_dashboard_command_rebuilds_the_page(built: Built, tmp_path: Path) -> None:
    output = tmp_path / "page.html"
    env = clean_env(
        REVENUE_ASSETS_DUCKDB=str(built.database), REVENUE_ASSETS_STATE=str(built.state)
    )
    result = run_cli("dashboard", "--output", str(output), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output.resolve())
    latest = built.latest_metrics()
    assert f"MRR {formatting.money(latest['mrr'], 'USD')}" in result.stderr
    html = output.read_text()
    assert f'data-metric="mrr" data-value="{latest["mrr"]}"' in html


def test_the_dashboard_command_without_a_warehouse_says_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.duckdb"
    result = run_cli("dashboard", env=clean_env(REVENUE_ASSETS_DUCKDB=str(missing)))
    assert result.returncode == 1
    assert "revenue-assets sync" in result.stderr and "Traceback" not in result.stderr
    assert not missing.exists()  # not created just to find it empty


def test_the_bridge_menu_shows_another_months_movements(built: Built, browser) -> None:
    months = built.rows("SELECT * FROM revenue_analytics.revenue_metrics ORDER BY month")
    month, before = months[-2], months[-3]
    label = formatting.month(month["month"])
    with visit(built.page, browser) as seen:
        page = seen.page
        page.click("#mrr-bridge .updatemenu-header-group")
        page.locator("#mrr-bridge .updatemenu-dropdown-button", has_text=label).click()
        page.wait_for_function(
            "label => document.querySelector('#mrr-bridge .updatemenu-header-group')"
            ".textContent.includes(label)",
            arg=label,
        )
        bars = page.evaluate("() => Array.from(document.getElementById('mrr-bridge').data[0].y)")
        assert seen.console_errors == [] and seen.page_errors == []
    columns = ("new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr")
    expected = [before["mrr"], *(month[c] for c in columns), month["fx_effect_mrr"], month["mrr"]]
    assert bars == pytest.approx([float(v) for v in expected])
