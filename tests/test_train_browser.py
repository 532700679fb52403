"""The Train tab in a real browser (Playwright + Debian's Chromium, as tests/test_browser.py): paste a
text, train briefly, watch the curve and the samples update, generate from the new model, download it
and load the zip with chargen.load_model."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from tests.helpers import make_text
from tests.train_app import serve_with_train_tab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"]
TIMEOUT_MS = 180_000
TEXT = make_text(seed=5, words=3000)

if not CHROMIUM.exists() and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def test_train_a_model_in_the_browser_and_use_it(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    import chargen
    from chargen.app.train_views import CURVE_COLORS

    with serve_with_train_tab(tmp_path) as (url, session_models), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, timeout=TIMEOUT_MS)
            page.get_by_role("tab", name="Train").click()
            # An upload that is not UTF-8 text gets a one-line error; a .txt fills the text box.
            binary = tmp_path / "photo.txt"
            binary.write_bytes(bytes(range(256)) * 50)
            page.locator("#train_file input[type=file]").set_input_files(str(binary))
            page.get_by_text("looks like a binary file").first.wait_for(timeout=TIMEOUT_MS)
            upload = tmp_path / "mine.txt"
            upload.write_text(make_text(seed=6, words=3000), encoding="utf-8")
            page.locator("#train_file input[type=file]").set_input_files(str(upload))
            page.wait_for_function(
                "(document.querySelector('#train_text textarea')?.value ?? '').length > 10000", timeout=TIMEOUT_MS
            )
            page.locator("#train_text textarea").fill(TEXT)  # pasting replaces it
            seconds = page.locator("#train_seconds input[type=number]")
            seconds.fill("15")
            seconds.press("Enter")
            page.locator("#train_button").click()

            # The samples grow as it learns ("step N: ..."), the curve is drawn, then the model is named.
            page.wait_for_function(
                "(document.querySelector('#train_samples textarea')?.value ?? '').startsWith('step 0: ')",
                timeout=TIMEOUT_MS,
            )
            first_samples = page.locator("#train_samples textarea").input_value()
            page.wait_for_selector("#train_curve canvas, #train_curve svg", timeout=TIMEOUT_MS)
            page.wait_for_function(
                "document.querySelector('#train_status')?.innerText.includes('session:')", timeout=TIMEOUT_MS
            )
            samples = page.locator("#train_samples textarea").input_value()
            # The chart draws its curves on number axes (not category axes with a tick per value): Vega's SVG
            # names each axis' scale, and its line marks are paths.
            axes = page.evaluate(
                """() => [...document.querySelectorAll('#train_curve svg [aria-roledescription="axis"]')]
                    .map((axis) => axis.getAttribute('aria-label'))"""
            )
            assert len(axes) == 2 and all("linear scale" in axis for axis in axes), axes
            assert any("step" in axis for axis in axes) and any("loss" in axis for axis in axes), axes
            ticks = page.evaluate(  # SVG text has no innerText
                """() => [...document.querySelectorAll('#train_curve svg .role-axis-label text')]
                    .map((t) => t.textContent)""",
            )
            assert 4 <= len(ticks) <= 40 and all(re.fullmatch(r"[\d.,]+", tick) for tick in ticks), ticks
            lines = page.evaluate(
                """() => [...document.querySelectorAll('#train_curve svg .mark-line path')].map((path) => [
                    (path.getAttribute('aria-label') || '').split('curve: ')[1],
                    path.getAttribute('stroke'), (path.getAttribute('d') || '').split(/[ML]/).length])"""
            )
            # Training and validation, each a line of several points in its own colour (a line without one is
            # not seen at all).
            assert sorted(curve for curve, _, _ in lines) == ["train", "validation"], lines
            assert all(points >= 3 for _, _, points in lines), lines
            assert all(stroke == CURVE_COLORS[curve] for curve, stroke, _ in lines), lines
            # Beside the API's JSON, the progress in words.
            progress = page.locator("#train_progress").inner_text()
            for words in ("step ", "training loss ", "validation loss ", "best so far ", "finished after "):
                assert words in progress, progress
            assert "is in the Generate tab's model list" in progress
            # A trained model is lost on reload: the page now asks before leaving.
            page.wait_for_function("window.chargenWarnsOnUnload === true", timeout=TIMEOUT_MS)
            assert samples.startswith(first_samples) and samples.count("step ") >= 2
            page.screenshot(path=str(tmp_path / "train.png"), full_page=True)

            # Download the zip and load it with chargen.load_model.
            with page.expect_download(timeout=TIMEOUT_MS) as download:
                page.locator("#train_download").click()
            archive = tmp_path / "model.zip"
            download.value.save_as(archive)
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp_path / "model")
            model = chargen.load_model(tmp_path / "model")
            assert set(model.vocab.chars) == set(TEXT)

            # The new model is picked in the Generate tab: greedy and sampled come from it.
            page.get_by_role("tab", name="Generate").click()
            assert "trained here" in page.locator("#model input").input_value()
            page.locator("#prompt textarea").fill("The ")
            page.locator("#generate").first.click()
            page.wait_for_function(
                """() => {
                    const v = (id) => document.querySelector(`#${id} textarea`)?.value ?? "";
                    return v("greedy_text").length > 0 && v("sampled_text").length > 0
                        && document.querySelector('#seed_used textarea, #seed_used input')?.value;
                }""",
                timeout=TIMEOUT_MS,
            )
            # Every view follows the new model: the header names it, the chart draws its distribution.
            assert "trained here" in page.locator("#header").inner_text()
            page.wait_for_function("document.querySelector('#chart-bars')?.childElementCount > 0", timeout=TIMEOUT_MS)
            assert page.locator("#chart-error").count() == 0
            greedy = page.locator("#greedy_text textarea").input_value()
            sampled = page.locator("#sampled_text textarea").input_value()
            assert set(greedy + sampled) <= set(TEXT)
            page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)
            assert errors == []

            # The session's models live in one folder of the store until the sweeper's idle limit.
            assert len(list(session_models.store.root.iterdir())) == 1
            page.close()
        finally:
            browser.close()
