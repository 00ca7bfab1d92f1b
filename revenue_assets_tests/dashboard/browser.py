"""Open a dashboard page in Debian's headless Chromium, recording what a user's browser would
see: console errors, page errors, every network request; then a screenshot.

Also a small tool for the README's screenshot (from a demo run):

    .venv/bin/python -m revenue_assets_tests.dashboard.browser \
        data/demo/revenue_dashboard.html docs/dashboard.png
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = "/usr/bin/chromium"
# No first-run UI, no background traffic of its own: any request seen is the page's.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}


@dataclass
class PageVisit:
    """A loaded page and what happened while loading it."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (one per test module: it is slow to start)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def visit(path: Path, browser: Any = None, *, timeout_ms: int = 60_000) -> Iterator[PageVisit]:
    """Load `path` from disk (file://) in a new page and wait until every chart is drawn."""
    if browser is None:
        with chromium() as launched, visit(path, launched, timeout_ms=timeout_ms) as seen:
            yield seen
        return
    page = browser.new_page(viewport=VIEWPORT)
    try:
        seen = PageVisit(page)
        page.on(
            "console",
            lambda message: (
                seen.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
        page.on("request", lambda request: seen.requests.append(request.url))
        page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
        page.wait_for_selector("body[data-charts=ready]", timeout=timeout_ms)
        yield seen
    finally:
        page.close()


def screenshot(page: Any, output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(output), full_page=True)
    return output


DRAWN_NAMES = (
    "(() => [...document.querySelectorAll('svg foreignObject div')]"
    ".map(node => node.textContent.trim()))"
)


def asset_graph_screenshot(
    browser: Any, ui_url: str, output: Path, wanted: Collection[str]
) -> list[str]:
    """The whole asset graph in the Dagster UI at `ui_url`, every group expanded, saved to
    `output` once the `wanted` asset names are drawn; returns the asset names the graph shows."""
    page = browser.new_page(viewport={"width": 1800, "height": 3400})
    # The UI renders slowly on a loaded machine (a webserver, a daemon and runs on two cores):
    # every click may wait as long as the first paint, not Playwright's default 30 s.
    page.set_default_timeout(120_000)
    try:
        # A fresh DAGSTER_HOME makes the UI open its community dialog a second after the first
        # paint, over whatever is clicked then; telling the instance it was seen prevents it.
        httpx.post(
            f"{ui_url}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=60
        ).raise_for_status()
        page.goto(f"{ui_url}/asset-groups", wait_until="networkidle", timeout=120_000)
        page.wait_for_selector("text=revenue_analytics", timeout=60_000)
        page.locator("body").press("Alt+e")  # the graph's "Expand all groups"
        page.get_by_text("Hide navigation").click()
        page.locator('[aria-label="panel_show_right"]').last.click()  # the assets tree
        # Zoomed out first, on a tall page: expanded, the graph of 30-odd Stripe tables is taller
        # than a screen and the UI draws only the nodes in view. (A fourth zoom step would draw
        # groups without their assets.)
        # Each step waits for the graph to settle: a zoom clicked while the expanded layout is
        # still being fitted lands too far out, where nodes are drawn without names.
        for _ in range(3):
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1_500)
            page.locator('[aria-label="zoom_out"]').first.click()
        # Wait for the names the graph draws, not for Playwright's "visible" text: a node's
        # label is clipped to its box, so a long name is drawn yet never counts as visible.
        page.wait_for_function(
            f"wanted => {{ const drawn = new Set({DRAWN_NAMES}()); "
            "return wanted.every(name => drawn.has(name)); }",
            arg=list(wanted),
            timeout=60_000,
        )
        page.wait_for_timeout(2_000)
        names = page.evaluate(f"{DRAWN_NAMES}()")
        screenshot(page, output)
        return names
    finally:
        page.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    html, png = Path(argv[0]), Path(argv[1])
    with visit(html) as seen:
        if seen.console_errors or seen.page_errors:
            print("errors:", *seen.console_errors, *seen.page_errors, sep="\n  ", file=sys.stderr)
            return 1
        screenshot(seen.page, png)
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
