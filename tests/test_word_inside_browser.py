"""Look inside a word model in a real browser (Playwright driving /usr/bin/chromium): the app built by
``app.build_demo`` serving a tiny word model; what it expected is shaded one piece per token, a click on
a token shows that token's guesses; the cells view colours each token; the sweep's texts have the
length asked for in characters.

Skipped without Chromium, except in CI (``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chargen.inference import inside
from chargen.inference.generate import compare
from tests.helpers import build_app, tiny_word_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"]
TIMEOUT_MS = 120_000

if not CHROMIUM.exists() and os.environ.get("CI", "").lower() not in {"1", "true", "yes"}:
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)


def test_look_inside_a_word_model_token_by_token(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    model = tiny_word_model("lstm", scale=3.0, seed=1)
    built = build_app({"words": model})
    url = built.launch()
    text = "The cat sat on the mat.\nA dog ran to the big red hat."
    tokens = [model.vocab.tokens[i] for i in model.vocab.encode(text)]
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # The page's own load-time events (the model picker's change fills the views' texts) must
            # be over before the test types, or one can land after a fill and replace it.
            page.goto(url, timeout=TIMEOUT_MS, wait_until="networkidle")
            page.get_by_role("tab", name="Look inside").click()

            # Every temperature: the texts are the length asked for, in characters, and compare's.
            page.locator("#sweep_prompt textarea").fill("the cat")
            length = page.locator("#sweep_length input[type=number]")
            length.fill("60")
            length.press("Enter")
            page.locator("#sweep_temperatures textarea, #sweep_temperatures input").first.fill("0, 1")
            page.locator("#sweep_seed textarea, #sweep_seed input").first.fill("4")
            page.locator("#sweep").click()
            page.wait_for_function(
                "() => (document.querySelector('#sweep_text_1 textarea')?.value ?? '').length === 60",
                timeout=TIMEOUT_MS,
            )
            shown = [page.locator(f"#sweep_text_{i} textarea").input_value() for i in (0, 1)]
            assert shown == [compare(model, "the cat", 60, temperature=t, seed=4).sampled for t in (0.0, 1.0)]

            # What it expected: one shaded piece per token; a click shows that token's guesses.
            page.get_by_role("tab", name="What it expected").click()
            page.locator("#expect_text textarea").fill(text)
            page.wait_for_function(
                "(t) => document.querySelector('#expect_text textarea')?.value === t", arg=text, timeout=TIMEOUT_MS
            )
            page.locator("#expect").click()
            page.wait_for_function(
                "(n) => document.querySelectorAll('#expect_view .token').length === n",
                arg=len(tokens),
                timeout=TIMEOUT_MS,
            )
            chips = page.locator("#expect_view .token .text")
            assert [chips.nth(i).inner_text().strip() for i in range(len(tokens))] == [t.strip() for t in tokens]
            index = tokens.index("cat")
            chips.nth(index).click()
            page.get_by_text(f"Token {index + 1}, cat").first.wait_for(timeout=TIMEOUT_MS)
            expected = inside.expectations(model, text)[index - 1]
            assert f"p = {expected.p:.3f}" in page.locator("#expect_line").inner_text()
            assert f"of {len(tokens) - 1} tokens" in page.locator("#expect_summary").inner_text()

            # Cells: the text coloured one piece per token.
            page.get_by_role("tab", name="Cells").click()
            page.locator("#cells_text textarea").fill(text)
            page.wait_for_function(
                "(t) => document.querySelector('#cells_text textarea')?.value === t", arg=text, timeout=TIMEOUT_MS
            )
            page.locator("#cells").click()
            page.wait_for_function(
                "(n) => document.querySelectorAll('#unit_view .token').length === n",
                arg=len(tokens),
                timeout=TIMEOUT_MS,
            )
            assert "after reading each token" in page.locator("#unit_line").inner_text()
            assert errors == []
            browser.close()
    finally:
        built.demo.close()
