"""The page in Marathi in a real browser (issue 23): chosen by the browser's language or ?lang=, switched at once
without losing the prompt or the texts, kept in the shared link, no English words left on the Generate tab after a
generation (names, code and units apart), gradio's own words caught where they can be, and Devanagari drawn with
real glyphs."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import pytest

from chargen.app import i18n, views
from tests.browser_page import ALLOWED_LATIN, CHROMIUM, PHONE, TIMEOUT_MS, Page, in_ci, latin_words

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not CHROMIUM.exists() and not in_ci():
    pytest.skip(f"Chromium is not installed at {CHROMIUM}; the browser test needs it", allow_module_level=True)

MR = i18n.catalogue("mr")
EN = i18n.catalogue("en")
PAGE_WORDS = "#page_head, #tabs [role=tablist], #generate_tab, footer, .toast-body"
"""The header, the tab names, the Generate tab, gradio's footer and its toasts."""


def card_words(app) -> set[str]:
    """A model card's own words (its metric and data set names), which the facts line shows as written."""
    return {
        word
        for offered in app.handlers.models.values()
        for word in re.findall(r"[A-Za-z][A-Za-z'\-]*", views.card_facts(offered.source) if offered.source else "")
    }


def words_of(tab: Page) -> dict[str, str]:
    """What a visitor reads on the Generate button, the panes' titles and the tab names."""
    page = tab.page
    return {
        "button": page.locator("#generate").inner_text().strip(),
        "greedy": page.locator("#greedy-title > span").first.inner_text().strip(),
        "sampled": page.locator("#sampled-title > span").first.inner_text().strip(),
        "tabs": [name.strip() for name in page.locator("#tabs [role=tab]").all_inner_texts()],
    }


def expected_words(catalogue) -> dict[str, str]:
    tabs = [catalogue[key] for key in ("page.tab_generate", "page.tab_inside", "page.tab_train")]
    return {
        "button": catalogue["generate.button"],
        "greedy": catalogue["lesson.greedy"],
        "sampled": catalogue["lesson.sampled"],
        "tabs": tabs,
    }


def generate(tab: Page, prompt: str = "ROMEO:", length: int = 200, seed: str = "7") -> None:
    tab.set_inputs(prompt=prompt, length=length, seed=seed)
    tab.playback("instant")
    tab.generate()
    tab.wait_finished()


def test_the_browsers_language_chooses_marathi_and_the_link_can_choose_english(url: str, browser) -> None:
    tab = Page(browser, url, locale="mr-IN")
    assert tab.language() == "mr" and tab.page.evaluate("document.documentElement.lang") == "mr"
    assert words_of(tab) == expected_words(MR)
    assert tab.page.title() == MR["page.title"]
    # The empty panes' words (a data-empty attribute on the generated text's own box, drawn by CSS).
    empty = "[...document.querySelectorAll('.cg-text')].map((box) => box.dataset.empty)"
    tab.page.wait_for_function(f"{empty}.every((words) => words === {json.dumps(MR['lesson.empty'])})")
    tab.close()
    english = Page(browser, url, query="?lang=en", locale="mr-IN")
    assert english.language() == "en" and english.page.evaluate("document.documentElement.lang") == "en"
    assert words_of(english) == expected_words(EN)
    english.close()
    other = Page(browser, url, locale="de-DE")  # a language the page does not have: English
    assert other.language() == "en" and words_of(other) == expected_words(EN)
    other.close()


def test_the_switch_keeps_the_texts_and_the_prompt_and_the_link_keeps_the_language(url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    assert tab.language() == "en"
    generate(tab)
    texts = (tab.text("greedy"), tab.text("sampled"), tab.shown("greedy"), tab.seed_shown())
    loop_line = page.locator("#loop_line").inner_text()
    switch = page.locator("#language_switch")
    assert switch.is_visible() and switch.inner_text().split() == ["English", "मराठी"]
    page.locator('#language_switch [data-lang="mr"]').click()
    page.wait_for_function("document.documentElement.lang === 'mr'")
    assert words_of(tab) == expected_words(MR)
    assert (tab.text("greedy"), tab.text("sampled"), tab.shown("greedy")) == texts[:3]
    assert page.locator("#prompt textarea").input_value() == "ROMEO:"
    assert page.locator("#length input[type=number]").input_value() == "200"
    assert parse_qs(urlparse(page.url).query)["lang"] == ["mr"]
    marathi_loop = page.locator("#loop_line").inner_text()
    assert marathi_loop != loop_line and MR["lesson.greedy_output"] in marathi_loop
    assert page.locator("#seed_line").inner_text().startswith(MR["lesson.seed"].format(seed=texts[3]))
    # A new run on the Marathi page, then its link (the shared one) opens in Marathi in an English browser.
    generate(tab, seed="11")
    query = parse_qs(urlparse(page.url).query)
    assert query["lang"] == ["mr"] and query["seed"] == ["11"]
    shared = Page(browser, page.url[: page.url.index("?")], query=page.url[page.url.index("?") :], locale="en-US")
    shared.wait_finished()
    assert shared.language() == "mr" and words_of(shared) == expected_words(MR)
    assert shared.text("sampled") == tab.text("sampled")
    shared.close()
    # And back: every word English again, the texts as they were.
    page.locator('#language_switch [data-lang="en"]').click()
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert words_of(tab) == expected_words(EN)
    assert page.locator("#generate_tab").inner_text().count("तयार") == 0
    tab.close()


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["laptop", "phone"])
def test_the_marathi_generate_tab_has_no_english_words_left(app, url: str, browser, viewport) -> None:
    tab = Page(browser, url, locale="mr-IN", **({"viewport": viewport} if viewport else {}))
    page = tab.page
    assert page.locator("#language_switch").is_visible()
    generate(tab, prompt="ROMEO:", length=300)
    # The chart of a step, and a refusal's toast, in Marathi too.
    page.locator("#sampled .cg-text .c").nth(5).click()
    page.wait_for_function("document.querySelector('#chart-caption').innerText.includes('6')")
    box = page.locator("#temperature input[type=number]")
    box.fill("5")
    tab.generate()
    page.locator(".toast-body").first.wait_for(timeout=TIMEOUT_MS)
    toast = page.locator(".toast-body").first.inner_text()
    assert MR["gradio.error"] in toast and "तापमान" in toast and "must be" not in toast, toast
    allowed = ALLOWED_LATIN | card_words(app)
    assert latin_words(page, PAGE_WORDS, frozenset(allowed)) == []
    # Gradio's footer: each of its words is caught (which it shows depends on the width and on past runs).
    footer = [line.strip() for line in page.locator("footer").inner_text().split("\n") if line.strip() not in {"", "·"}]
    keys = ("gradio.use_via_api", "gradio.built_with", "gradio.settings", "gradio.runs")
    assert footer and set(footer) <= {MR[key] for key in keys}, footer
    assert page.locator("footer").get_attribute("aria-label") == MR["gradio.footer"]
    tab.close()


def test_devanagari_is_drawn_with_real_glyphs(url: str, browser) -> None:
    """No boxes: a Marathi string is as wide in the page's font as in Noto Sans Devanagari (which has the glyphs),
    and not as wide as the same number of unassigned code points (which every font draws as boxes)."""
    tab = Page(browser, url, locale="mr-IN")
    widths = tab.page.evaluate(
        """(words) => {
            const font = getComputedStyle(document.querySelector('#generate')).font;
            const size = getComputedStyle(document.querySelector('#generate')).fontSize;
            const canvas = document.createElement('canvas').getContext('2d');
            const width = (text, f) => { canvas.font = f; return canvas.measureText(text).width; };
            const unassigned = Array.from(words, (_, i) => String.fromCodePoint(0x2FE0 + (i % 16))).join('');
            return {
                page: width(words, font),
                noto: width(words, `${size} 'Noto Sans Devanagari'`),
                boxes: width(unassigned, font),
                button: document.querySelector('#generate').getBoundingClientRect().width,
            };
        }""",
        MR["page.title"].split(": ")[1] + " " + MR["generate.prompt_placeholder"],
    )
    assert abs(widths["page"] - widths["noto"]) <= 0.05 * widths["noto"], widths
    assert abs(widths["page"] - widths["boxes"]) >= 0.15 * widths["boxes"], widths
    tab.close()
