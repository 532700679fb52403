"""The Train tab in Marathi (issue 23), in Chromium: with ``?lang=mr`` a refusal, a short training's progress,
its chart and its samples' caption are all said in Marathi, no English word is left on the tab outside the
allow-list, and the switch brings the English back."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargen.app.i18n import catalogue
from tests.browser_page import ALLOWED_LATIN, TIMEOUT_MS, Page, latin_words
from tests.helpers import make_text
from tests.train_app import serve_with_train_tab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = make_text(seed=7, words=3000)
TAB = "[role=tabpanel]:has(#train_button)"
"""The Train tab's panel: everything the tab shows."""
GRADIO_FILE_WIDGET = frozenset({"Drop", "File", "Here", "or", "Click", "to", "Upload"})
"""gr.File's own prompt ("Drop File Here - or - Click to Upload"), which the app cannot set."""


def test_the_train_tab_in_marathi_has_no_english_left(browser, tmp_path: Path) -> None:
    mr, en = catalogue("mr"), catalogue("en")
    with serve_with_train_tab(tmp_path) as (url, _):
        shown = Page(browser, url, query="?lang=mr")
        page = shown.page
        page.wait_for_function("window.chargenI18n?.language === 'mr'", timeout=TIMEOUT_MS)
        page.get_by_role("tab", name=mr["page.tab_train"]).click()
        page.locator("#train_button").get_by_text(mr["train.button"]).wait_for(timeout=TIMEOUT_MS)

        # A refusal of the tab's checks, from the Marathi catalogue with the server's values in it.
        page.locator("#train_text textarea").fill("too short")
        page.locator("#train_button").click()
        refusal = mr["train.refusal.too_short"].format(count="9", minimum="10,000")
        page.get_by_text(refusal).first.wait_for(timeout=TIMEOUT_MS)

        # A short training: the progress in words, the chart and the samples.
        page.locator("#train_text textarea").fill(TEXT)
        seconds = page.locator("#train_seconds input[type=number]")
        seconds.fill("8")
        seconds.press("Enter")
        page.locator("#train_button").click()
        page.wait_for_function(
            "document.querySelector('#train_status')?.innerText.includes('session:')", timeout=TIMEOUT_MS
        )
        page.wait_for_function(
            "(document.querySelector('#train_samples textarea')?.value ?? '').startsWith('step 0: ')",
            timeout=TIMEOUT_MS,
        )
        page.wait_for_selector("#train_curve svg .mark-line path", timeout=TIMEOUT_MS)
        done = mr["train.progress.done"].split("**")[0].strip()  # "पूर्ण:"
        page.locator("#train_progress").get_by_text(done).first.wait_for(timeout=TIMEOUT_MS)

        progress = page.locator("#train_progress").inner_text()
        for key in ("train.progress.best", "train.progress.line"):  # the sentence and a part inside it, in Marathi
            assert mr[key].split("{")[0].strip() in progress, (key, progress)
        assert mr["train.time.seconds"].removeprefix("{seconds} ") in progress, progress
        # The chart's axes and legend, drawn by Vega as SVG text.
        chart = page.evaluate(
            "() => [...document.querySelectorAll('#train_curve svg text')].map((t) => t.textContent.trim())"
        )
        for key in ("train.chart.x", "train.chart.y", "train.curve.train", "train.curve.validation"):
            assert mr[key] in chart, (key, chart)
        assert not {en[key] for key in ("train.chart.x", "train.chart.y", "train.curve.train")} & set(chart), chart
        labels = page.locator(TAB).inner_text()
        for key in ("train.samples.label", "train.chart.label", "train.kept", "train.size.small"):
            assert mr[key] in labels, key
        left = latin_words(page, TAB, ALLOWED_LATIN | GRADIO_FILE_WIDGET)
        page.screenshot(path=str(tmp_path / "train-mr.png"), full_page=True)
        assert left == [], left

        # The switch says the tab in English again, the trained model's progress included.
        page.locator("[data-lang=en]").first.click()
        page.wait_for_function("window.chargenI18n.language === 'en'", timeout=TIMEOUT_MS)
        page.locator("#train_progress").get_by_text("training loss").first.wait_for(timeout=TIMEOUT_MS)
        assert en["train.samples.label"] in page.locator(TAB).inner_text()
        shown.close()
