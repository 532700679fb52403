"""Driving the app's page in Chromium: the browser launched as the browser tests launch it, and
:class:`Page`, one tab on the Generate page with the page's own state read through ``window.chargen``.

Playwright's own browser download cannot work here, so this launches Debian's /usr/bin/chromium
(``apt-get install chromium``). The ``browser`` fixture (conftest.py) skips without it, except in CI.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 180_000
LAPTOP = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true``), where a missing browser is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """Headless Chromium at :data:`CHROMIUM` through Playwright, closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """One browser tab on the app, with the page's own state read through ``window.chargen``."""

    def __init__(
        self, browser, url: str, viewport: dict[str, int] = LAPTOP, query: str = "", locale: str | None = None
    ):
        # ``locale`` (e.g. "mr-IN") is the browser's language: navigator.languages, Accept-Language.
        self.page = browser.new_page(viewport=viewport, **({"locale": locale} if locale else {}))
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(url + query, timeout=TIMEOUT_MS, wait_until="networkidle")
        self.page.wait_for_selector("#generate", timeout=TIMEOUT_MS)
        # The script itself, not boot.js's stand-ins: only it holds the state.
        self.page.wait_for_function("window.chargen && window.chargen.state !== undefined", timeout=TIMEOUT_MS)
        # The language's catalogues have arrived and the page is drawn in it.
        self.page.wait_for_function("window.chargenI18n && window.chargenI18n.loaded === true", timeout=TIMEOUT_MS)

    def language(self) -> str:
        """The page's language as its script chose it (``en``, ``mr``)."""
        return self.page.evaluate("window.chargenI18n.language")

    def set_inputs(self, prompt: str | None = None, length: int | None = None, seed: str | None = None) -> None:
        if prompt is not None:
            self.page.locator("#prompt textarea").fill(prompt)
        if length is not None:
            box = self.page.locator("#length input[type=number]")
            box.fill(str(length))
            box.press("Enter")
        if seed is not None:
            box = self.page.locator("#seed textarea, #seed input").first
            if not box.is_visible():
                self.page.locator("#advanced button").first.click()  # "Advanced sampling", in any language
            box.fill(seed)

    def playback(self, mode: str) -> None:
        """Choose a playback mode by its name ("typing", "step by step", "instant"), in any language."""
        self.page.locator(f'#playback input[value="{mode}"]').check()

    def generate(self) -> None:
        self.page.locator("#generate").click()

    def record_pane_lengths(self) -> None:
        """From now on, push [greedy, sampled] piece counts to ``window.lengths`` whenever the sampled pane changes."""
        self.page.evaluate(
            """() => {
                window.lengths = [];
                const greedy = document.querySelector('#greedy .cg-text');
                const sampled = document.querySelector('#sampled .cg-text');
                new MutationObserver(() => window.lengths.push([greedy.children.length, sampled.children.length]))
                    .observe(sampled, {childList: true});
            }"""
        )

    def wait_finished(self) -> None:
        self.page.wait_for_function("window.chargen.state.finished === true", timeout=TIMEOUT_MS)

    def text(self, which: str) -> str:
        """The text as copied or downloaded: the real characters, never the markers."""
        return self.page.evaluate(f"window.chargen.text('{which}')")

    def shown(self, which: str) -> str:
        """What a visitor sees in the pane (whitespace as markers)."""
        return self.page.locator(f"#{which} .cg-text").inner_text()

    def seed_shown(self) -> str:
        line = self.page.locator("#seed_line").inner_text()
        return line.split()[1] if line.startswith("seed ") else ""

    def close(self) -> None:
        assert not self.errors, self.errors
        self.page.close()


ALLOWED_LATIN = frozenset(
    {
        # The app's name, the models' names and architectures, and units.
        "chargen",
        "shakespeare",
        "python",
        "tiny",
        "LSTM",
        "GRU",
        "RNN",
        "nats",
        "M",
        "T",
        # Code and API names, keys, and sampling's settings by their usual names.
        "JSON",
        "API",
        "MCP",
        "top-k",
        "top-p",
        "Top-k",
        "Top-p",
        "k",
        "p",
        "Ctrl",
        "Enter",
        # Gradio's own words the app cannot set (README: Languages).
        "Use",
        "via",
        "Built",
        "with",
        "Gradio",
        "Settings",
        "Stop",
        "Logo",
        "logo",
    }
)
"""Latin words a Marathi page may show: names, units, code, and gradio's own strings (listed in the README)."""
LATIN_SKIPPED = (
    "textarea, input, select, script, style, code, pre, .cg-text, .cg-quoted, #examples button, .json-holder, "
    "[translate=no], [data-testid='highlighted-text:textfield']"
)
"""What :func:`latin_words` leaves out: what a visitor typed or a model wrote (the panes, the example prompts,
text quoted from them), code and JSON, and the language switch (each language named in its own)."""


def latin_words(page, selector: str, allowed: frozenset[str] = ALLOWED_LATIN) -> list[str]:
    """The Latin-script words in the visible text of ``selector`` on ``page`` (a Playwright page),
    leaving out :data:`LATIN_SKIPPED` and the ``allowed`` words: what a Marathi page left in English."""
    shown = page.evaluate(
        """([selector, skipped]) => {
            const texts = [];
            for (const root of document.querySelectorAll(selector)) {
                const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
                    acceptNode: (node) => node.nodeType === Node.TEXT_NODE ? NodeFilter.FILTER_ACCEPT
                        : node.matches(skipped) || !node.checkVisibility({visibilityProperty: true})
                        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_SKIP,
                });
                for (let node = walker.nextNode(); node; node = walker.nextNode()) texts.push(node.data);
            }
            return texts.join(" ");
        }""",
        [selector, LATIN_SKIPPED],
    )
    words = re.findall(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]", shown)
    return [word for word in words if word not in allowed and word.lower() not in allowed]
