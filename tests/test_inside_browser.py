"""The "Look inside" tab in a real browser (Playwright driving /usr/bin/chromium), on the app built
by ``app.build_demo`` with the bundled models: each of its four views, as a visitor uses them.

Skipped without Chromium, except in CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from chargen.app import inside_views
from chargen.inference.generate import compare

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"]
TIMEOUT_MS = 120_000
LENGTH = 120


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


if not CHROMIUM.exists() and not in_ci():
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.exists(), f"CI=true but Chromium is missing at {CHROMIUM}"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def text_of(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} textarea, #{elem_id} input:not([type=range])").first.input_value()


def set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def wait_for_boxes(page, count: int, label: str) -> list[str]:
    """Wait until the first ``count`` sweep boxes hold LENGTH characters and the first is labelled ``label``."""
    page.wait_for_function(
        """([count, length, label]) => {
            for (let i = 0; i < count; i++) {
                const box = document.querySelector(`#sweep_text_${i} textarea`);
                if (!box || box.value.length !== length) return false;
            }
            return document.querySelector("#sweep_text_0").innerText.includes(label);
        }""",
        arg=[count, LENGTH, label],
        timeout=TIMEOUT_MS,
    )
    return [text_of(page, f"sweep_text_{i}") for i in range(count)]


def test_the_four_views_in_a_real_browser(app, url: str, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Look inside").click()
    model = app.models["shakespeare"]

    # 1. Every temperature from one prompt, the same seed; then four samples at one temperature.
    page.locator("#sweep_prompt textarea").fill("ROMEO:\n")
    page.locator("#sweep_seed textarea, #sweep_seed input").first.fill("5")
    set_number(page, "sweep_length", LENGTH)
    page.locator("#sweep").click()
    texts = wait_for_boxes(page, 5, "greedy (T = 0)")
    for temperature, text in zip([0, 0.3, 0.6, 1.0, 1.5], texts, strict=True):
        assert text == compare(model, "ROMEO:\n", LENGTH, temperature=temperature, seed=5).sampled
    assert "T = 0.3 · seed 5" in page.locator("#sweep_text_1").inner_text()
    assert not page.locator("#sweep_text_5").is_visible()
    page.locator("#samples").click()
    samples = wait_for_boxes(page, 4, "T = 0.8 · seed 5")
    assert "T = 0.8 · seed 8" in page.locator("#sweep_text_3").inner_text()
    assert samples[3] == compare(model, "ROMEO:\n", LENGTH, temperature=0.8, seed=8).sampled
    assert not page.locator("#sweep_text_4").is_visible()

    # 2. What the model expected: the first sample opened there, then every character of the
    # default text shaded; a click shows its top guesses.
    page.locator("#sweep_to_expect").click()
    page.wait_for_function(
        "(text) => document.querySelector('#expect_text textarea')?.value === text",
        arg="ROMEO:\n" + samples[0],
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#expect").is_visible()
    text = inside_views.default_text("shakespeare")
    page.locator("#expect_text textarea").fill(text)
    page.locator("#expect").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('#expect_view .token').length === n", arg=len(text), timeout=TIMEOUT_MS
    )
    assert "first guess was right for" in page.locator("#expect_summary").inner_text()
    page.locator("#expect_view .token").nth(15).click()  # "B" of "Before", after "First Citizen:\n"
    page.wait_for_function(
        "document.querySelector('#expect_line').innerText.includes('Character 16')", timeout=TIMEOUT_MS
    )
    assert page.locator("#expect_top").inner_text().count("%") == 5

    # 3. Cells: the finder's list, and the text coloured by its best unit; a row picks another unit.
    page.get_by_role("tab", name="Cells").click()
    page.locator("#cells").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('#unit_view .token').length === n", arg=len(text), timeout=TIMEOUT_MS
    )
    line = page.locator("#unit_line").inner_text()
    assert line.startswith("The best match:") and "r = " in line
    assert abs(float(re.search(r"r = (-?[0-9.]+[0-9])", line).group(1))) >= 0.5
    cell = page.locator("#cells_table [data-testid='cell-2-2']")  # the third row's unit
    third_unit = cell.inner_text().strip()
    assert third_unit.isdigit()
    page.locator("#cells_table [data-testid='cell-2-3']").click()
    page.wait_for_function(
        "(unit) => document.querySelector('#unit_number input').value === unit", arg=third_unit, timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "(unit) => document.querySelector('#unit_line').innerText.includes(`unit ${unit}`)",
        arg=third_unit,
        timeout=TIMEOUT_MS,
    )

    # 4. Beam search: its text, log-probability and loop line.
    page.get_by_role("tab", name="Beam search").click()
    page.locator("#beam_prompt textarea").fill("ROMEO:\n")
    set_number(page, "beam_length", LENGTH)
    page.locator("#beam").click()
    page.wait_for_function(
        "(n) => document.querySelector('#beam_text textarea').value.length === n", arg=LENGTH, timeout=TIMEOUT_MS
    )
    assert "log-probability" in page.locator("#beam_line").inner_text()

    page.screenshot(path=str(tmp_path / "inside.png"), full_page=True)
    shot_dir = os.environ.get("CHARGEN_SCREENSHOT_DIR")
    if shot_dir:
        page.screenshot(path=str(Path(shot_dir) / "inside.png"), full_page=True)
    assert not errors, errors
    page.close()


def test_bad_input_in_a_view_shows_an_error_and_the_view_keeps_working(url: str, browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url, timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Look inside").click()
    page.locator("#sweep_temperatures input, #sweep_temperatures textarea").first.fill("0, 9")
    page.locator("#sweep").click()
    page.get_by_text("temperature must be a number from 0 to 2").first.wait_for(timeout=TIMEOUT_MS)
    page.locator("#sweep_temperatures input, #sweep_temperatures textarea").first.fill("0, 1")
    set_number(page, "sweep_length", LENGTH)
    page.locator("#sweep").click()
    wait_for_boxes(page, 2, "greedy (T = 0)")
    page.close()
