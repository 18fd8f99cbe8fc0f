"""``lorchestra status --html``: the page opened in a real headless Chromium (Playwright driving the system's
``chromium``, as installed by .ci/run), after real target runs into DuckDB.

The page, its screenshot and its printed PDF are kept in ``output/test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from lorchestra_ops.cli import main
from lorchestra_testing.target import run_target
from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "output" / "test-artifacts"
CHROMIUM = os.environ.get("LORCHESTRA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
#: A headless browser that neither phones home nor keeps state between runs (with a fresh user-data-dir).
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

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium browser on this machine (.ci/run installs Debian's chromium)"
)


def scheduled_connections() -> set[tuple[str, str]]:
    """(connection_name, object type) of every extractor of the repository's meltano.yml."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    extractors = {p["name"]: p for p in project["plugins"]["extractors"]}
    found = set()
    for plugin in extractors.values():
        connection = (plugin.get("config") or {}).get("connection_name")
        if connection:
            select = plugin.get("select") or extractors[plugin["inherit_from"]]["select"]
            found |= {(connection, pattern.split(".")[0]) for pattern in select}
    return found


def test_page_in_a_headless_browser(duckdb_wh, tmp_path, capsys):
    for scenario in ("emails_initial.singer", "multi_stream.singer", "bad/missing_key.singer"):
        run_target(duckdb_wh, scenario, tmp_path=tmp_path)
    page_path = tmp_path / "status.html"
    with pytest.raises(SystemExit):
        main(["status", "--duckdb-path", str(duckdb_wh.path), "--project", str(REPO), "--html", str(page_path)])
    capsys.readouterr()
    html = page_path.read_text()
    assert "http://" not in html
    assert "https://" not in html  # self-contained: nothing to fetch
    expected = scheduled_connections()
    assert len(expected) == 18

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
        )
        try:
            requests: list[str] = []
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())

            rows = page.locator("#status tbody tr")
            states = {}
            for i in range(rows.count()):
                state, connection, object_type = (rows.nth(i).locator("td").nth(c).inner_text() for c in range(3))
                states[(connection, object_type)] = state
            assert rows.count() == len(expected)
            assert set(states) == expected  # one row per scheduled connection and object type
            assert states[("gmail-acct1", "email")] == "failing"
            assert states[("dataverse-clinic", "contact")] == "fresh"
            assert states[("gmail-acct2", "email")] == "never run"

            for chart in ("#chart-records svg", "#chart-durations svg"):
                box = page.locator(chart).bounding_box()
                assert box is not None
                assert box["width"] > 300
                assert box["height"] > 200
            assert page.locator("#chart-records svg rect.bar").count() >= 3  # bars of the good runs
            assert page.locator("#chart-records svg .failure").count() == 1  # the failed day
            assert page.locator("#chart-durations svg .failure").count() == 1  # the failed run
            assert page.locator("#chart-durations svg circle.run").count() >= 3  # the good runs

            page.screenshot(path=str(ARTIFACTS / "status.png"), full_page=True)
            pdf = page.pdf(prefer_css_page_size=True, print_background=True)
            (ARTIFACTS / "status.pdf").write_bytes(pdf)
            shutil.copyfile(page_path, ARTIFACTS / "status.html")
            assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1  # prints on one page
            assert requests == [page_path.as_uri()]  # the page fetched nothing else
        finally:
            context.close()
    assert (ARTIFACTS / "status.png").stat().st_size > 10_000
