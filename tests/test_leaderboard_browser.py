"""The HTML leaderboard in real headless Chromium (Debian's chromium + chromium-driver, via Selenium):
it renders, loads nothing from outside, sorting works, and a screenshot is produced.

Skipped when Chromium is not installed, unless BENCH_REQUIRE_BROWSER=1 (CI installs it and sets it).
"""

import os
import shutil
import struct

import pytest

from bench.reports.leaderboard import write_leaderboard
from tests.leaderboard_fixtures import SUITE, populate, populate_every_kind

pytestmark = pytest.mark.slow  # whole runs, processes or services: the full tier (pytest -m "")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("BENCH_REQUIRE_BROWSER") == "1":
            pytest.fail("BENCH_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed "
                        "(apt-get install chromium chromium-driver)")
        pytest.skip("chromium and chromedriver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1280,1800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def column(driver, table_id: str, index: int) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".map(r => r.cells[arguments[1]].textContent.trim());", table_id, index)


def test_page_renders_sorts_and_screenshots(browser, tmp_path):
    from selenium.webdriver.common.by import By

    results = tmp_path / "results"
    populate(results)
    page = write_leaderboard(results, resamples=200, suite=SUITE)["html"]
    browser.get(page.as_uri())
    assert browser.title == "bench leaderboard"
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0  # nothing fetched
    assert len(browser.find_elements(By.CSS_SELECTOR, "#task-cdsc_r tbody tr")) == 6
    assert browser.find_element(By.CSS_SELECTOR, "#heatmap").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, "#plots svg").size["width"] > 200

    # suite table: rows start in descending mean order; clicking "model" sorts by name, twice reverses
    means = [float(v) for v in column(browser, "suite", 6)]
    assert means == sorted(means, reverse=True)
    header = browser.find_element(By.XPATH, "//table[@id='suite']//th[normalize-space()='model']")
    header.click()
    models = column(browser, "suite", 0)
    assert models == sorted(models) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert column(browser, "suite", 0) == sorted(models, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"

    # a numeric column sorts by value, not as text (the dims column has 16, 32, 64)
    dims_header = browser.find_element(By.XPATH, "//table[@id='task-cdsc_r']//th[normalize-space()='dims']")
    dims_header.click()
    dims = [int(v) for v in column(browser, "task-cdsc_r", 7)]
    assert dims == sorted(dims) and dims[0] == 16 and dims[-1] == 64

    # significance marks are rendered: one best cell, and the weak model has no "not worse" mark
    assert len(browser.find_elements(By.CSS_SELECTOR, "#task-cdsc_r td.best")) == 1
    weak = browser.find_element(By.XPATH, "//table[@id='task-cdsc_r']//tr[td[1][normalize-space()='weak']]/td[5]")
    assert "notworse" not in weak.get_attribute("class")

    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 600 and len(data) > 20_000  # a real page, not a blank image
    if os.environ.get("BENCH_SCREENSHOT_DIR"):
        shutil.copy(shot, os.environ["BENCH_SCREENSHOT_DIR"])


def _page_facts(driver) -> dict:
    """What a person sees: the bold cells of every table, the "vs best" column of cdsc_r, the visible text."""
    return driver.execute_script("""
        var bold = Array.from(document.querySelectorAll('td.best')).map(function (td) {
            var row = td.parentElement, table = row.closest('table');
            return table.id + '|' + row.cells[0].textContent.trim() + '|' + row.cells[2].textContent.trim()
                   + '|' + td.cellIndex + '|' + td.textContent.trim();
        }).sort();
        var header = Array.from(document.querySelectorAll('#task-cdsc_r thead th'))
            .findIndex(function (th) { return th.textContent.indexOf('vs best') === 0; });
        var versus = Array.from(document.querySelectorAll('#task-cdsc_r tbody tr'))
            .map(function (r) { return r.cells[header].textContent.trim(); });
        var ticks = [];  // matplotlib draws tick labels as glyph paths, each after a comment with its text
        document.querySelectorAll('#plots svg g[id^="xtick"]').forEach(function (g) {
            var walker = document.createTreeWalker(g, NodeFilter.SHOW_COMMENT);
            while (walker.nextNode()) { ticks.push(walker.currentNode.nodeValue.trim()); }
        });
        return {bold: bold, versus: versus, text: document.body.innerText, ticks: ticks,
                legend: document.querySelector('.legend').textContent};
    """)


def test_end_of_run_and_by_hand_pages_agree_on_every_kind_of_row(browser, tmp_path):
    """Zero-shot, probe, fine-tuned and cross-encoder rows: the page a run rebuilds at its end (no resamples)
    bolds what the page built by hand bolds (tied bests both), its "vs best" says "not computed" and how to
    compute it, no cell reads nan or None, and the plot's axis labels are plain numbers."""
    import re

    results = tmp_path / "results"
    populate_every_kind(results)
    facts = {}
    for name, resamples in (("run", 0), ("hand", 200)):
        page = write_leaderboard(results, out_dir=tmp_path / name, resamples=resamples, suite=SUITE)["html"]
        browser.get(page.as_uri())
        facts[name] = _page_facts(browser)
        text = facts[name]["text"]
        assert not re.search(r"\b(nan|None|NaN)\b", text), [line for line in text.splitlines()
                                                              if re.search(r"\b(nan|None|NaN)\b", line)]
        assert "good@abc123" in text  # the fine-tuned and cross-encoder rows' base model, in the provenance
        ticks = facts[name]["ticks"]
        assert ticks and all(re.fullmatch(r"\d+", tick) for tick in ticks), ticks  # 16, 32, 64: plain numbers
        assert "mathdefault" not in browser.page_source
    run, hand = facts["run"], facts["hand"]
    assert run["bold"] == hand["bold"] and len(run["bold"]) >= 6
    tied = [cell for cell in run["bold"] if cell.startswith("task-cdsc_r|")]
    assert {cell.split("|")[1] for cell in tied} == {"good-tuned", "tuned-twin"}  # a tie: both bold
    assert run["versus"][:2] == ["best", "best"] and set(run["versus"][2:]) == {"not computed"}
    assert f"bench-leaderboard --results {results}" in run["legend"]
    assert hand["versus"][:2] == ["best", "best"] and all(re.match(r"[+-]\d", v) for v in hand["versus"][2:])
