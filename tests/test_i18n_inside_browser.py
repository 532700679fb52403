"""The Look inside tab in Marathi in a real browser (issue 23): opened with ``?lang=mr``, each of its five views
used once, so every summary, loop line and plot is drawn; what the tab shows then is Marathi, with no
Latin words outside the allow-list; the sentences are the Marathi catalogue's filled with the same values
as the English; a refusal is shown in Marathi; the switch brings the English back without touching the texts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chargen.app import inside_views
from chargen.app.i18n import catalogue
from chargen.inference.loops import find_loop
from tests.browser_page import ALLOWED_LATIN, TIMEOUT_MS, Page, latin_words

pytestmark = [pytest.mark.browser]

TAB = "[role=tabpanel]:has(#inside_intro)"
"""The Look inside tab's panel (only its shown sub-tab has visible text)."""
INSIDE_LATIN = ALLOWED_LATIN | {"r", "s", "sweep", "samples", "expectations", "cells", "beam", "adapt"}
"""Also allowed on this tab: the correlation ``r``, the seed ``s`` of "s, s + 1", and the API's endpoint names."""
LENGTH = 120
MR = catalogue("mr")


def set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def open_view(page, key: str) -> None:
    page.get_by_role("tab", name=MR[key], exact=True).click()


def loop_line_in_marathi(entry: dict) -> str:
    """The oracle: the Marathi catalogue's loop sentence filled with the loop the entry's text has."""
    loop = find_loop(entry["text"])
    if loop is None:
        return MR["inside.sweep.no_loop"]
    temperature = float(entry["temperature"])
    name = (
        MR["inside.sweep.greedy"] if temperature == 0 else MR["inside.sweep.at"].format(temperature=f"{temperature:g}")
    )
    if loop.period == 1:
        return MR["inside.sweep.loop_one"].format(name=name, start=loop.start + 1)
    return MR["inside.sweep.loop"].format(name=name, period=loop.period, start=loop.start + 1)


def test_the_look_inside_tab_in_marathi(app, url: str, browser) -> None:
    shown = Page(browser, url, viewport={"width": 1280, "height": 1000}, query="?lang=mr")
    page = shown.page
    assert shown.language() == "mr"
    page.get_by_role("tab", name=MR["page.tab_inside"], exact=True).click()
    intro = page.locator("#inside_intro p").first
    intro.wait_for(timeout=TIMEOUT_MS)
    assert intro.inner_text() == MR["inside.intro"].replace("**", "")
    assert page.locator("#inside_intro p").first.locator("strong, b").count() == 5
    assert latin_words(page, TAB, INSIDE_LATIN) == []
    # A box's placeholder is the page's words, though its value is the visitor's.
    seed = page.locator("#sweep_seed textarea, #sweep_seed input").first
    assert seed.get_attribute("placeholder") == MR["generate.seed_placeholder"]

    # 1. Every temperature, then samples at one temperature: labels and loop lines in Marathi.
    page.locator("#sweep_prompt textarea").fill("ROMEO:\n")
    page.locator("#sweep_seed textarea, #sweep_seed input").first.fill("5")
    set_number(page, "sweep_length", LENGTH)
    page.locator("#sweep").click()
    greedy = MR["inside.sweep.greedy"]
    page.wait_for_function(
        "(label) => document.querySelector('#sweep_text_4 textarea')?.value.length > 0 "
        "&& document.querySelector('#sweep_text_0').innerText.includes(label)",
        arg=greedy,
        timeout=TIMEOUT_MS,
    )
    answer = inside_views.sweep_answer(
        app.models, "ROMEO:\n", LENGTH, inside_views.DEFAULT_SWEEP_TEMPERATURES, "5", "shakespeare"
    )
    for i, entry in enumerate(answer):
        box = page.locator(f"#sweep_text_{i}")
        assert box.locator("textarea").input_value() == entry["text"]
        assert loop_line_in_marathi(entry) in box.inner_text(), i
    assert MR["inside.sweep.label"].format(temperature="0.3", seed=5) in page.locator("#sweep_text_1").inner_text()
    assert latin_words(page, TAB, INSIDE_LATIN) == []
    page.locator("#samples").click()
    page.wait_for_function(
        "(label) => document.querySelector('#sweep_text_3').innerText.includes(label)",
        arg=MR["inside.sweep.label"].format(temperature="0.8", seed=8),
        timeout=TIMEOUT_MS,
    )
    assert latin_words(page, TAB, INSIDE_LATIN) == []

    # A refusal of the tab's own, in Marathi.
    temperatures = page.locator("#sweep_temperatures input, #sweep_temperatures textarea").first
    temperatures.fill("0 " * 9)
    page.locator("#sweep").click()
    page.get_by_text(MR["inside.error.temperatures_many"].format(limit=8, count=9)).first.wait_for(timeout=TIMEOUT_MS)
    temperatures.fill(inside_views.DEFAULT_SWEEP_TEMPERATURES)

    # 2. What it expected: the default text read, the line break after "First Citizen:" picked.
    open_view(page, "inside.tab.expect")
    text = inside_views.default_text("shakespeare")
    page.locator("#expect_text textarea").fill(text)
    page.locator("#expect").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('#expect_view .token').length === n", arg=len(text), timeout=TIMEOUT_MS
    )
    page.locator("#expect_view .token").nth(14).dispatch_event("click")  # a line break is drawn with no width
    page.wait_for_function(
        "(words) => document.querySelector('#expect_line').innerText.includes(words)",
        arg=MR["inside.char.line_break"],
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#expect_line").inner_text().startswith("अक्षर 15, " + MR["inside.char.line_break"] + ":")
    assert page.locator("#expect_summary").inner_text().startswith(f"{len(text) - 1} पैकी ")
    guesses = inside_views.expectations_answer(app.models, text, "shakespeare")[13]["top"]
    assert MR["inside.expect.guess_line_break"].format(rank=1) in page.locator("#expect_top").inner_text()
    model_guesses = frozenset(guess for guess, _ in guesses if guess.isalpha())  # the model's own letters
    assert latin_words(page, TAB, INSIDE_LATIN | model_guesses) == []

    # 3. Cells: the finder's table and the best unit's line.
    open_view(page, "inside.tab.cells")
    page.locator("#cells").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('#unit_view .token').length === n", arg=len(text), timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "(words) => document.querySelector('#unit_line').innerText.startsWith(words)",
        arg=MR["inside.cells.best"].split("{")[0],
        timeout=TIMEOUT_MS,
    )
    table = page.locator("#cells_table").inner_text()
    assert MR["inside.cells.layer"] in table and MR["inside.cells.property"] in table
    assert MR["inside.kind.hidden"] in page.locator("#unit_kind").inner_text()
    assert latin_words(page, TAB, INSIDE_LATIN) == []
    # The library's refusal of a layer the model lacks, said in Marathi by the page's templates.
    set_number(page, "unit_layer", 5)
    page.locator("#unit_show").click()
    allowed = MR["inside.error.whole_number"].format(low=0, high=1)
    refusal = MR["error.must_be"].format(name=MR["inside.cells.layer"], allowed=allowed, value=5)
    page.get_by_text(refusal).first.wait_for(timeout=TIMEOUT_MS)

    # 4. Beam search.
    open_view(page, "inside.tab.beam")
    page.locator("#beam_prompt textarea").fill("ROMEO:\n")
    set_number(page, "beam_length", LENGTH)
    page.locator("#beam").click()
    page.wait_for_function(
        "(n) => document.querySelector('#beam_text textarea').value.length === n", arg=LENGTH, timeout=TIMEOUT_MS
    )
    page.wait_for_function(
        "document.querySelector('#beam_line').innerText.startsWith('लॉग-संभाव्यता')", timeout=TIMEOUT_MS
    )
    beam_text = page.locator("#beam_text textarea").input_value()
    assert latin_words(page, TAB, INSIDE_LATIN) == []

    # 5. It adapts as it reads: the plot's axis titles and legend are drawn in Marathi too.
    open_view(page, "inside.tab.adapt")
    page.locator("#adapt").click()
    page.wait_for_function(
        "(words) => [...document.querySelectorAll('#adapt_plot svg text')].some((t) => t.textContent === words)",
        arg=MR["inside.adapt.x"],
        timeout=TIMEOUT_MS,
    )
    page.wait_for_function("document.querySelector('#adapt_line').innerText.length > 0", timeout=TIMEOUT_MS)
    assert page.locator("#adapt_line").inner_text().startswith(MR["inside.adapt.summary"].split(":")[0] + ":")
    assert page.locator("#adapt_line strong").count() == 2
    assert latin_words(page, TAB, INSIDE_LATIN) == []
    shot_dir = os.environ.get("CHARGEN_SCREENSHOT_DIR")
    if shot_dir:  # for a look: Devanagari drawn, nothing spilling out
        page.screenshot(path=str(Path(shot_dir) / "inside-mr.png"), full_page=True)

    # The switch: English again, word for word, the texts as they were.
    page.locator("[data-lang=en]").first.click()
    page.wait_for_function("document.documentElement.lang === 'en'", timeout=TIMEOUT_MS)
    english = catalogue("en")
    page.wait_for_function(
        "(words) => document.querySelector('#adapt_line').innerText.startsWith(words)",
        arg="As trained: ",
        timeout=TIMEOUT_MS,
    )
    assert page.locator("#inside_intro p").first.inner_text() == english["inside.intro"].replace("**", "")
    assert page.locator("#inside_intro b").count() == 5
    axis_titles = page.locator("#adapt_plot svg text").all_text_contents()
    assert english["inside.adapt.x"] in axis_titles and english["inside.adapt.y"] in axis_titles
    open_view_en = page.get_by_role("tab", name=english["inside.tab.beam"], exact=True)
    open_view_en.click()
    assert page.locator("#beam_text textarea").input_value() == beam_text
    assert page.locator("#beam_line").inner_text().startswith("log-probability ")
    shown.close()
