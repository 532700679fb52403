"""The app in a real browser: Playwright (from PyPI) driving Debian's Chromium.

Playwright's own browser download cannot work here, so the tests launch /usr/bin/chromium
(``apt-get install chromium``). Without it they are skipped, saying so, except in CI (``CI=true``),
where a missing browser is a failure.

Nothing here depends on speed: the page's playback counts animation frames, not seconds, so a slow
browser sees the same lengths, only later; Stop is tested at a point the test chooses (step by step)
as well as in the middle of typing. Texts are checked against the library computing the same thing.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from chargen.app import page as page_module
from chargen.inference.generate import compare
from tests.browser_page import CHROMIUM, LAPTOP, PHONE, TIMEOUT_MS, Page, in_ci

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LENGTH = 300


if not CHROMIUM.exists() and not in_ci():
    pytest.skip(
        f"Chromium is not installed at {CHROMIUM} (apt-get install chromium); the browser test needs it",
        allow_module_level=True,
    )


def test_generate_shows_both_texts_above_the_fold_and_a_link_makes_them_again(app, url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    tab.set_inputs(prompt="ROMEO:", length=LENGTH, seed="1234")
    # Move the temperature slider with the keyboard, as a person would: 0.80 -> 0.60 in 0.05 steps.
    slider = page.locator("#temperature input[type=range]")
    slider.focus()
    for _ in range(4):
        slider.press("ArrowLeft")
    page.wait_for_function("document.querySelector('#temperature input[type=number]').value === '0.6'")
    tab.playback("instant")
    page.get_by_text("Advanced sampling").click()  # closed again: the page as most visitors see it
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#prompt textarea").press("Control+Enter")  # the keyboard shortcut generates
    tab.wait_finished()
    expected = compare(app.models["shakespeare"], "ROMEO:", LENGTH, temperature=0.6, seed=1234)
    assert (tab.text("greedy"), tab.text("sampled")) == (expected.greedy, expected.sampled)
    assert tab.seed_shown() == "1234"
    assert page.locator("#loop_line").inner_text().startswith("greedy output")
    # On a laptop the start of both texts is on screen without scrolling.
    for which in ["greedy", "sampled"]:
        box = page.locator(f"#{which} .cg-text").bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + 40 <= LAPTOP["height"], (which, box)
    assert page.evaluate("window.scrollY") == 0
    # Where they part is marked in both texts and said in words.
    part = next(i for i, (g, s) in enumerate(zip(expected.greedy, expected.sampled, strict=False)) if g != s)
    assert page.locator(f"#greedy .c[data-i='{part}']").get_attribute("class").split().count("part") == 1
    assert page.locator(f"#sampled .c[data-i='{part}']").get_attribute("class").split().count("part") == 1
    assert f"part at character {part + 1}" in page.locator("#parting").inner_text()

    # A blank seed draws a fresh one; greedy stays the same.
    tab.set_inputs(seed="")
    tab.generate()
    page.wait_for_function("window.chargen.state.finished && window.chargen.state.data.seed !== '1234'")
    assert tab.text("greedy") == expected.greedy and tab.seed_shown().isdigit()
    fresh = (tab.text("sampled"), tab.seed_shown())

    # The page's link holds its state; opened elsewhere it makes the same texts.
    query = parse_qs(urlparse(page.url).query)
    assert query["seed"] == [fresh[1]] and query["length"] == [str(LENGTH)] and query["prompt"] == ["ROMEO:"]
    assert query["model"] == ["shakespeare"] and query["temperature"] == ["0.6"]
    other = Page(browser, page.url[: page.url.index("?")], query=page.url[page.url.index("?") :])
    other.wait_finished()
    assert (other.text("sampled"), other.seed_shown()) == fresh
    other.close()
    tab.close()


# Test instrumentation, before any of the page's scripts: records the calls made to boot.js's stand-ins (the object
# window.chargen holds until chargen.js arrives) and the names each window.chargen offers.
RECORD_STAND_IN_CALLS = """(() => {
    let current;
    window.standInCalls = [];
    window.chargenNames = [];
    Object.defineProperty(window, "chargen", {
        configurable: true,
        get: () => current,
        set: (value) => {
            current = value;
            window.chargenNames.push(Object.keys(value));
            if (value.state !== undefined) return;
            for (const name of Object.keys(value)) {
                const call = value[name];
                value[name] = (...args) => { window.standInCalls.push(name); return call(...args); };
            }
        },
    });
})()"""


def test_the_script_is_fetched_and_a_link_works_when_it_arrives_after_the_first_events(app, url: str, browser) -> None:
    """chargen.js and chargen.css come from gradio's static-file URL; held back until the page's load event
    has run, the script still applies the link and generates (boot.js's stand-ins wait for it)."""
    page = browser.new_page(viewport=LAPTOP)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(RECORD_STAND_IN_CALLS)
    held = []
    page.route(re.compile(r"/gradio_api/file=[^?]*/chargen\.js\?v=[0-9a-f]{12}$"), lambda route: held.append(route))
    responses = []
    page.on("response", lambda response: responses.append(response) if "/gradio_api/file=" in response.url else None)
    page.goto(url + "?prompt=ROMEO:&seed=99&length=120&playback=instant", wait_until="commit", timeout=TIMEOUT_MS)
    page.wait_for_function("window.standInCalls.includes('fromUrl')", timeout=TIMEOUT_MS)  # the load event ran
    assert len(held) == 1 and page.evaluate("window.chargen.state === undefined")
    held[0].continue_()
    page.wait_for_function("window.chargen.state !== undefined && window.chargen.state.finished", timeout=TIMEOUT_MS)
    expected = compare(app.models["shakespeare"], "ROMEO:", 120, temperature=0.8, seed=99)
    texts = page.evaluate("[window.chargen.text('greedy'), window.chargen.text('sampled')]")
    assert texts == [expected.greedy, expected.sampled]
    assert page.locator("#prompt textarea").input_value() == "ROMEO:"
    assert page.evaluate("window.standInCalls") == ["fromUrl", "loaded"]  # the rest came once it had arrived
    # Every call the page's events make has a stand-in and is in the script's API.
    calls = set()
    for dependency in app.demo.config["dependencies"]:
        calls.update(re.findall(r"window\.chargen\.(\w+)", dependency.get("js") or ""))
    stand_in, script = page.evaluate("window.chargenNames")
    assert calls and calls <= set(stand_in) and calls <= set(script)
    files = {Path(response.url.split("?")[0]).name: response for response in responses}
    # The translator and, for it, the catalogues (the page's words) come the same way.
    catalogues = {path.name for path in page_module.CATALOGUE_PATHS}
    scripts = {"chargen.js", "chargen.css", "i18n.js"}
    assert scripts <= set(files) <= scripts | catalogues
    assert all(response.status == 200 for response in files.values())
    assert files["chargen.js"].body() == page_module.SCRIPT_PATH.read_bytes()
    assert files["chargen.css"].body() == page_module.STYLE_PATH.read_bytes()
    assert files["i18n.js"].body() == page_module.I18N_SCRIPT_PATH.read_bytes()
    assert not errors, errors
    page.close()


def test_typing_shows_the_texts_grow_in_lockstep_and_continue_extends_them(app, url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    tab.set_inputs(prompt="ROMEO:", length=LENGTH, seed="77")
    assert page.locator("#playback input:checked").get_attribute("value") == "typing"  # the default
    tab.record_pane_lengths()
    tab.generate()
    tab.wait_finished()
    lengths = page.evaluate("window.lengths")
    distinct = {sampled for _, sampled in lengths}
    assert len({n for n in distinct if 0 < n < LENGTH}) >= 20, sorted(distinct)
    assert all(abs(greedy - sampled) <= 1 for greedy, sampled in lengths if sampled), "the texts grow in lockstep"
    expected = compare(app.models["shakespeare"], "ROMEO:", LENGTH + 50, temperature=0.8, seed=77)
    assert tab.text("sampled") == expected.sampled[:LENGTH]

    # Continue: the same seed, longer; the texts so far are kept as its prefix.
    tab.set_inputs(length=50)
    page.locator("#continue").click()
    page.wait_for_function(f"window.chargen.state.finished && window.chargen.state.shown === {LENGTH + 50}")
    assert (tab.text("greedy"), tab.text("sampled")) == (expected.greedy, expected.sampled)
    tab.close()


def test_stop_keeps_text_seed_and_loop_line_and_that_seed_makes_it_again(app, url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    tab.set_inputs(prompt="ROMEO:", length=LENGTH, seed="")
    # Step by step: Stop lands exactly where the test chooses.
    tab.playback("step by step")
    tab.generate()
    page.wait_for_function("window.chargen.state.data !== null")
    for _ in range(42):
        page.locator("#next_char").click()
    page.wait_for_function("window.chargen.state.shown === 42")
    page.locator("#stop").click()
    tab.wait_finished()
    stopped_greedy, stopped_sampled, seed = tab.text("greedy"), tab.text("sampled"), tab.seed_shown()
    assert len(stopped_greedy) == len(stopped_sampled) == 42 and seed.isdigit()
    loop_line = page.locator("#loop_line").inner_text()
    assert loop_line.startswith("greedy output")
    model = app.models["shakespeare"]
    assert stopped_sampled == compare(model, "ROMEO:", 42, temperature=0.8, seed=int(seed)).sampled

    # Typing, stopped wherever it is: what is shown stays, with its seed and its loop line.
    tab.playback("typing")
    tab.generate()
    page.wait_for_function("window.chargen.state.shown >= 30")
    page.locator("#stop").click()
    tab.wait_finished()
    shown_sampled, seed_2 = tab.text("sampled"), tab.seed_shown()
    assert 30 <= len(shown_sampled) <= LENGTH and seed_2.isdigit()
    assert page.locator("#loop_line").inner_text().startswith("greedy output")

    # That seed at full length makes the same text again, as its prefix.
    tab.playback("instant")
    tab.set_inputs(length=LENGTH, seed=seed_2)
    tab.generate()
    page.wait_for_function(f"window.chargen.state.finished && window.chargen.state.shown === {LENGTH}")
    assert tab.text("sampled").startswith(shown_sampled)
    tab.close()


def test_the_python_example_shows_its_whitespace_and_says_so(app, url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    tab.playback("instant")
    page.locator(".cg-example", has_text="fibonacci").click()
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'def fibonacci(n):'")
    tab.set_inputs(length=LENGTH, seed="5")
    tab.generate()
    tab.wait_finished()
    expected = compare(app.models["python"], "def fibonacci(n):", LENGTH, temperature=0.8, seed=5)
    assert tab.text("greedy") == expected.greedy
    assert expected.greedy.strip() == "", "the bundled Python model's greedy continuation is whitespace"
    shown = tab.shown("greedy")
    assert shown.count("\u00b7") == expected.greedy.count(" ") and shown.count("\u21b5") == expected.greedy.count("\n")
    assert "only spaces" in page.locator("#loop_line").inner_text()
    assert "from character" in page.locator("#loop_line").inner_text()
    # Copy gives the real text, not the markers.
    page.locator("#greedy [data-copy]").click()
    assert page.evaluate("window.chargenCopied") == expected.greedy
    # Examples keep their line breaks.
    page.locator(".cg-example", has_text="import").click()
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'import os\\n\\n\\nclass '")
    tab.close()


def test_clicking_a_character_shows_the_distribution_it_was_drawn_from(app, url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    tab.playback("instant")
    tab.set_inputs(prompt="ROMEO:", length=LENGTH, seed="31")
    tab.generate()
    tab.wait_finished()
    for i in [0, 17, 120]:
        page.locator(f"#sampled .c[data-i='{i}']").click()
        page.wait_for_function(
            f"document.querySelector('#chart-caption').innerText.startsWith('Character {i + 1} of the sampled')"
        )
        shading = page.locator(f"#sampled .c[data-i='{i}']").get_attribute("data-p")
        drawn = page.locator("#chart-bars .bars.drawn")
        assert drawn.count() == 1
        assert drawn.get_attribute("data-char") == tab.text("sampled")[i]
        assert drawn.get_attribute("data-pt") == shading, (i, shading)
    # The keyboard moves along the text too.
    page.locator("#sampled .cg-text").press("ArrowRight")
    page.wait_for_function("document.querySelector('#chart-caption').innerText.startsWith('Character 122 of')")
    # A new temperature redraws the chart at once; a new prompt, once typing pauses.
    slider = page.locator("#temperature input[type=range]")
    slider.focus()
    slider.press("ArrowRight")
    page.wait_for_function("document.querySelector('#chart-caption').innerText.includes('T = 0.85')")
    page.locator("#prompt textarea").fill("JULIET:")
    page.wait_for_function("document.querySelector('#chart-caption').innerText.includes('JULIET:')")
    tab.close()


def test_out_of_range_input_is_refused_the_same_way_on_the_page_and_in_the_api(client, url: str, browser) -> None:
    from gradio_client.exceptions import AppError

    cases = [
        ("temperature", "3", "temperature must be a number from 0 to 2 (0 = greedy), got 3"),
        ("length", "5", "length must be a whole number of characters from 10 to 2000, got 5"),
        ("top_k", "500", "top-k must be a whole number from 0 (off) to 200, got 500"),
        ("seed", "-1", "seed must be blank (random) or a whole number"),
    ]
    tab = Page(browser, url)
    page = tab.page
    page.get_by_text("Advanced sampling").click()
    for control, value, message in cases:
        box = page.locator(f"#{control} input[type=number], #{control} textarea, #{control} input").first
        before = box.input_value()
        box.fill(value)
        box.press("Tab")  # leaving the box keeps what was typed: nothing is clamped silently
        # gradio clamps on blur and the page puts the typed value back after it: wait for that state.
        page.wait_for_function(
            "([sel, v]) => document.querySelector(sel).value === v",
            arg=[f"#{control} input[type=number], #{control} textarea, #{control} input", value],
            timeout=TIMEOUT_MS,
        )
        tab.generate()
        page.get_by_text(message).first.wait_for(timeout=TIMEOUT_MS)
        box.fill(before)
        box.press("Tab")
        kwargs = {"top_k": int(value)} if control == "top_k" else {"seed": value} if control == "seed" else {}
        args = ["ROMEO:", 0.8, 30]
        if control in ("temperature", "length"):
            args[1 if control == "temperature" else 2] = float(value)
        with pytest.raises(AppError, match=re.escape(message.split(", got")[0])):
            client.predict(*args, api_name="/generate", **kwargs)
    # The chart follows the same rule without a pop-up: its redraw was not something the visitor asked for.
    box = page.locator("#temperature input[type=number]")
    box.fill("3")
    page.wait_for_function("document.querySelector('#chart-caption').innerText.includes('temperature must be')")
    with pytest.raises(AppError, match="temperature must be a number from 0 to 2"):
        client.predict("ROMEO:", 3, api_name="/distribution")
    tab.close()


OVERLAP_CANDIDATES = """() => {
    const sel = ['#header h1', '#header p', '[data-testid="block-info"]', '.cg-head h2', '.cg-tools button',
                 '#loop_line', '#seed_line', '#parting', '#chart-title', '#chart-caption', '#chart-bars .lbl',
                 '#chart-bars .num', '#generate', '#stop', '#continue', '.cg-example', '#model_facts'];
    const out = [];
    for (const s of sel) for (const el of document.querySelectorAll(s)) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden')
            out.push({s, text: (el.innerText || '').slice(0, 30), x: r.x, y: r.y + scrollY, w: r.width, h: r.height});
    }
    return out;
}"""


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_nothing_overflows_or_overlaps(url: str, browser, viewport: dict[str, int], tmp_path: Path) -> None:
    tab = Page(browser, url, viewport=viewport)
    page = tab.page
    tab.playback("instant")
    tab.set_inputs(prompt="ROMEO:", length=LENGTH, seed="3")
    tab.generate()
    tab.wait_finished()
    page.wait_for_selector("#chart-bars .bars.drawn", timeout=TIMEOUT_MS)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    boxes = page.evaluate(OVERLAP_CANDIDATES)
    overlaps = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            width = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
            height = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
            if width > 1 and height > 1:
                overlaps.append((a["s"], a["text"], b["s"], b["text"]))
    assert not overlaps, overlaps
    for which in ["greedy", "sampled"]:
        box = page.locator(f"#{which}").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    tab.close()


# --- issue 22: what a new visitor meets on the page ---------------------------------------------------------

LINES_SEEN = """(which) => {
    // The lines of a pane's text a person sees: distinct rows of characters inside both the pane's text box
    // (it scrolls) and the window, without scrolling the page.
    const box = document.querySelector(`#${which} .cg-text`).getBoundingClientRect();
    const top = Math.max(box.top, 0), bottom = Math.min(box.bottom, window.innerHeight);
    const rows = new Set(), first = [];
    for (const span of document.querySelectorAll(`#${which} .cg-text .c`)) {
        const r = span.getBoundingClientRect();
        if (r.height > 0 && r.top >= top - 1 && r.bottom <= bottom + 1) {
            rows.add(Math.round(r.top));
            first.push(Number(span.dataset.i));
        }
    }
    return {lines: rows.size, first: first.length ? Math.min(...first) : null,
            scrollTop: document.querySelector(`#${which} .cg-text`).scrollTop};
}"""


def _in_view(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= -1 and box["y"] + box["height"] <= height + 1  # within a pixel


def test_a_laptop_shows_ten_lines_of_each_text_from_its_start_and_a_clicked_characters_chart(url: str, browser) -> None:
    tab = Page(browser, url)  # 1280 x 720, typing (the default playback): the panes scroll as the texts grow
    page = tab.page
    tab.set_inputs(prompt="ROMEO:", length=LENGTH, seed="3")
    page.evaluate("window.scrollTo(0, 0)")
    tab.generate()
    tab.wait_finished()
    for which in ["greedy", "sampled"]:
        seen = page.evaluate(LINES_SEEN, which)
        # From its first character (not scrolled to its end), at least 10 lines, without scrolling the page.
        assert seen["scrollTop"] == 0 and seen["first"] == 0, (which, seen)
        assert seen["lines"] >= 10, (which, seen)
    assert page.evaluate("window.scrollY") == 0
    # A clicked character's chart is on screen with it, on a laptop.
    target = page.locator("#sampled .c[data-i='150']")
    target.click()
    page.wait_for_function(
        "document.querySelector('#chart-caption').innerText.startsWith('Character 151 of the sampled')"
    )
    page.wait_for_function(
        """() => { const r = document.querySelector('#chart').getBoundingClientRect();
                   return r.top >= -1 && r.bottom <= window.innerHeight + 1; }""",
        timeout=TIMEOUT_MS,
    )
    assert _in_view(page, "#chart-bars .bars.drawn") and _in_view(page, "#sampled .c[data-i='150']")
    tab.close()


def test_loop_shading_marks_the_first_copy_and_every_copy_start_where_the_loop_says(app, url: str, browser) -> None:
    prompt = "KING LEAR:\n"
    expected = compare(app.models["shakespeare"], prompt, LENGTH, temperature=0.8, seed=1)
    loop = expected.loop
    assert loop is not None and loop.period > 1, "the greedy text must loop with a period above 1"
    tab = Page(browser, url)
    page = tab.page
    tab.playback("instant")
    tab.set_inputs(prompt=prompt, length=LENGTH, seed="1")
    tab.generate()
    tab.wait_finished()
    assert tab.text("greedy") == expected.greedy
    marks = page.evaluate(
        """() => [...document.querySelectorAll('#greedy .cg-text .c')].map((s) => [
            Number(s.dataset.i), s.classList.contains('loop'), s.classList.contains('first'),
            s.classList.contains('copy-start')])"""
    )
    loop_spans = [i for i, in_loop, _, _ in marks if in_loop]
    first_copy = [i for i, _, first, _ in marks if first]
    copy_starts = [i for i, _, _, start in marks if start]
    assert loop_spans == list(range(loop.start, len(expected.greedy)))
    assert first_copy == list(range(loop.start, loop.start + loop.period))
    assert copy_starts == list(range(loop.start, len(expected.greedy), loop.period))
    tab.close()


def test_use_this_seed_fills_the_seed_box_while_advanced_sampling_is_closed(app, url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    tab.playback("instant")
    tab.set_inputs(prompt="ROMEO:", length=100)
    assert page.locator("#seed textarea, #seed input").count() == 0  # closed: gradio has not drawn the box
    tab.generate()
    tab.wait_finished()
    seed, sampled = tab.seed_shown(), tab.text("sampled")
    assert seed.isdigit()
    page.locator("#use_seed").click()
    page.wait_for_function(
        "(seed) => document.querySelector('#seed textarea, #seed input')?.value === seed", arg=seed, timeout=TIMEOUT_MS
    )
    tab.generate()  # the seed in the box is the one used: the same sampled text again
    page.wait_for_function("window.chargen.state.finished === true", timeout=TIMEOUT_MS)
    assert tab.seed_shown() == seed and tab.text("sampled") == sampled
    assert sampled == compare(app.models["shakespeare"], "ROMEO:", 100, temperature=0.8, seed=int(seed)).sampled
    tab.close()


def test_a_link_naming_another_sessions_model_falls_back_to_the_default_model(app, url: str, browser) -> None:
    query = "?model=session:gru-small-trained-here-0123abcd&prompt=ROMEO:&seed=7&length=60&playback=instant"
    tab = Page(browser, url, query=query)
    page = tab.page
    tab.wait_finished()
    expected = compare(app.models["shakespeare"], "ROMEO:", 60, temperature=0.8, seed=7)
    assert (tab.text("greedy"), tab.text("sampled")) == (expected.greedy, expected.sampled)
    assert page.locator("#model input").input_value() == "shakespeare"
    assert "another browser session" in page.locator("#link_notice").inner_text()
    assert page.locator(".toast-body").count() == 0
    tab.close()


def test_an_emptied_number_box_is_refused_and_the_texts_shown_stay(url: str, browser) -> None:
    tab = Page(browser, url)
    page = tab.page
    tab.playback("instant")
    tab.set_inputs(prompt="ROMEO:", length=100, seed="5")
    tab.generate()
    tab.wait_finished()
    shown = (tab.shown("greedy"), tab.shown("sampled"))
    texts = (tab.text("greedy"), tab.text("sampled"))
    assert all(shown)
    for control, message in [
        ("temperature", "temperature must be a number from 0 to 2 (0 = greedy), got nothing (an empty box)"),
        ("length", "length must be a whole number of characters from 10 to 2000, got nothing (an empty box)"),
    ]:
        box = page.locator(f"#{control} input[type=number]")
        before = box.input_value()
        box.fill("")
        box.press("Tab")
        page.wait_for_function(f"document.querySelector('#{control} input[type=number]').value === ''")
        tab.generate()
        page.locator(".toast-message-text", has_text=message).first.wait_for(timeout=TIMEOUT_MS)
        # Only the newest refusal is shown, and the texts already shown stay.
        messages = page.locator(".toast-message-text").all_inner_texts()
        assert len(messages) == 1 and message in messages[0], messages
        assert (tab.shown("greedy"), tab.shown("sampled")) == shown
        # ... and they are still the page's texts: Copy and Download give them.
        page.wait_for_function("window.chargen.state.finished === true", timeout=TIMEOUT_MS)
        assert (tab.text("greedy"), tab.text("sampled")) == texts
        box.fill(before)
        box.press("Tab")
    tab.close()


def test_example_chips_name_their_model_and_picking_a_model_offers_its_example(url: str, browser) -> None:
    from chargen.app import views

    tab = Page(browser, url)
    page = tab.page
    chips = page.locator(".cg-example").all_inner_texts()
    names = ["shakespeare", "shakespeare-word", "python"]
    assert [chip.strip() for chip in chips] == [
        views.example_chip_label(prompt, name) for prompt, name in views.example_prompts(names)
    ]
    assert all(
        chip.strip().endswith(f"({name})") for chip, (_, name) in zip(chips, views.example_prompts(names), strict=True)
    )

    def pick(model: str) -> None:
        page.locator("#model input").click()
        page.get_by_role("option", name=model, exact=True).click()

    # The page's own prompt is the Shakespeare model's: picking python offers python's example.
    pick("python")
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'def fibonacci(n):'")
    pick("shakespeare")
    page.wait_for_function("document.querySelector('#prompt textarea').value === 'ROMEO:'")
    # A prompt the visitor wrote is theirs: it stays.
    page.locator("#prompt textarea").fill("my own words")
    pick("python")
    page.wait_for_function("document.querySelector('#header').innerText.includes('python')")
    assert page.locator("#prompt textarea").input_value() == "my own words"
    tab.close()


def test_an_example_chip_runs_its_example_with_its_model(app, url: str, browser) -> None:
    """A chip is a whole example: after a Shakespeare run, the python chip's texts replace the old ones."""
    from chargen.app import views

    tab = Page(browser, url)
    page = tab.page
    tab.playback("instant")
    tab.set_inputs(prompt="ROMEO:", length=60)
    tab.generate()
    tab.wait_finished()
    before = tab.text("greedy")
    prompt, name = next((p, m) for p, m in views.example_prompts(list(app.models)) if m == "python")
    page.locator(".cg-example", has_text="(python)").first.click()
    page.wait_for_function(
        "(old) => window.chargen.state.finished === true && window.chargen.text('greedy') !== old",
        arg=before,
        timeout=TIMEOUT_MS,
    )
    assert tab.text("greedy") == compare(app.models["python"], prompt, 60).greedy  # greedy: whatever the seed
    tab.close()


def test_each_text_says_how_much_of_it_is_copied_from_the_training_text(app, url: str, browser) -> None:
    """Under each finished text: its longest piece found verbatim in the bundled model's training text,
    measured here again with the model folder's own index."""
    from chargen.inference.originality import find_index, originality
    from tests.helpers import ROOT

    index = find_index(ROOT / "checkpoints" / "shakespeare")
    tab = Page(browser, url)
    tab.playback("instant")
    tab.set_inputs(prompt="ROMEO:", length=200)
    tab.generate()
    tab.wait_finished()
    for which in ("greedy", "sampled"):
        meter = originality(tab.text(which), index)
        line = tab.page.locator(f"#{which}_copied").inner_text()
        assert f"copied from the training text: {meter['longest_copy_chars']} characters" in line, line
        assert f"{math.floor(100 * meter['copied_share'] + 0.5)}% of the text" in line  # as JS rounds
    tab.close()
