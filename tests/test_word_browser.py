"""The Generate page with a word-level model in a real browser (issue 17): playback advances both
texts one step (a token) at a time in lockstep, the shading and the chart are per token, Stop,
the loop line, the parting point, copy and the link work. Built as test_browser.py's tests are
(browser_page.Page, conftest's browser), over a tiny seeded word model; texts are checked against ``compare``.
Nothing depends on speed: playback counts animation frames, and step by step is driven by the test."""

from __future__ import annotations

import itertools
import os
from urllib.parse import parse_qs, urlparse

import pytest
import torch

from chargen.app import views
from chargen.inference.generate import compare
from chargen.inference.loops import find_loop
from tests.browser_page import Page
from tests.helpers import build_app, make_text, tiny_model, tiny_word_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROMPT = "The cat sat on"
LENGTH = 120


@pytest.fixture(scope="module")
def word_app(tmp_path_factory: pytest.TempPathFactory):
    """The app over a tiny word model (the default; its vocabulary has a paragraph break token) and a
    tiny character model, served in-process."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    text = make_text().replace(".\n", ".\n\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    built = build_app(models={"words": tiny_word_model(text=text), "chars": tiny_model(vocab=text)})
    url = built.launch()
    try:
        yield built, url
    finally:
        built.demo.close()
        torch.set_num_threads(threads)


def ends(steps: list[int]) -> list[int]:
    """Characters shown after 0, 1, 2, ... steps."""
    return list(itertools.accumulate(steps, initial=0))


def at_step(counts: list[int], k: int) -> int:
    return counts[min(k, len(counts) - 1)]


def test_step_by_step_advances_both_texts_a_token_at_a_time_and_stop_keeps_them(word_app, browser) -> None:
    built, url = word_app
    model = built.models["words"]
    tab = Page(browser, url)
    page = tab.page
    tab.set_inputs(prompt=PROMPT, length=LENGTH, seed="21")
    tab.playback("step by step")
    tab.generate()
    page.wait_for_function("window.chargen.state.data !== null && window.chargen.state.data.done")
    expected = compare(model, PROMPT, LENGTH, temperature=0.8, seed=21)
    greedy_ends, sampled_ends = ends(expected.greedy_steps), ends(expected.sampled_steps)
    assert page.locator("#next_char").inner_text().startswith("Next token")
    for k in range(1, 16):
        page.locator("#next_char").click()
        page.wait_for_function(f"window.chargen.state.shown === {k}")
        g, s = at_step(greedy_ends, k), at_step(sampled_ends, k)
        assert (tab.text("greedy"), tab.text("sampled")) == (expected.greedy[:g], expected.sampled[:s])
        assert page.locator("#greedy .cg-text .c").count() == g and page.locator("#sampled .cg-text .c").count() == s
        assert page.locator("#step_count").inner_text().startswith(f"{k} tokens: {g} and {s} of {LENGTH}")
        # The chart follows the newest sampled token: all of its characters are selected.
        start = at_step(sampled_ends, k - 1)
        selected = page.eval_on_selector_all("#sampled .cg-text .c.sel", "els => els.map(e => Number(e.dataset.i))")
        assert selected == list(range(start, s)), (k, selected)
    assert sampled_ends[15] != 15 or greedy_ends[15] != 15, "the tokens were all single characters: no test"
    # Stop: the server remakes the longer text shown, in characters; both texts are then that long.
    shown = max(at_step(greedy_ends, 15), at_step(sampled_ends, 15))
    page.locator("#stop").click()
    tab.wait_finished()
    stopped = compare(model, PROMPT, shown, temperature=0.8, seed=21)
    assert (tab.text("greedy"), tab.text("sampled")) == (stopped.greedy, stopped.sampled)
    assert len(stopped.greedy) == len(stopped.sampled) == shown
    assert stopped.sampled.startswith(expected.sampled[: at_step(sampled_ends, 15)])
    data = page.evaluate("window.chargen.state.data")
    assert data["stopped_at"] == shown and sum(data["sampled_steps"]) == shown == sum(data["greedy_steps"])
    assert page.locator("#loop_line").inner_text() == views.loop_sentence(stopped.greedy, find_loop(stopped.greedy))
    assert parse_qs(urlparse(page.url).query)["length"] == [str(shown)]
    tab.close()


def test_typing_plays_both_texts_token_by_token_in_lockstep(word_app, browser) -> None:
    built, url = word_app
    model = built.models["words"]
    tab = Page(browser, url)
    page = tab.page
    tab.set_inputs(prompt=PROMPT, length=LENGTH, seed="8")
    assert page.locator("#playback input:checked").get_attribute("value") == "typing"
    tab.record_pane_lengths()
    tab.generate()
    tab.wait_finished()
    expected = compare(model, PROMPT, LENGTH, temperature=0.8, seed=8)
    assert (tab.text("greedy"), tab.text("sampled")) == (expected.greedy, expected.sampled)
    greedy_ends, sampled_ends = ends(expected.greedy_steps), ends(expected.sampled_steps)
    boundaries = {(at_step(greedy_ends, k), at_step(sampled_ends, k)): k for k in range(len(sampled_ends) + 5)}
    lengths = [tuple(pair) for pair in page.evaluate("window.lengths") if pair != [0, 0]]
    # Every state the visitor saw is both texts after the same number of steps.
    assert all(pair in boundaries for pair in lengths), [p for p in lengths if p not in boundaries][:5]
    steps_seen = sorted({boundaries[pair] for pair in lengths})
    assert len(steps_seen) >= 10, steps_seen
    assert any(boundaries[pair] == 1 for pair in lengths) or steps_seen[0] <= 3, steps_seen
    # Shading: each sampled character carries its token's probability (its step's).
    shading = page.eval_on_selector_all("#sampled .cg-text .c", "els => els.map(e => [e.dataset.step, e.dataset.p])")
    for i, (step, p) in enumerate(shading):
        k = next(k for k in range(len(sampled_ends) - 1) if sampled_ends[k] <= i < sampled_ends[k + 1])
        assert int(step) == k and p == f"{expected.sampled_probs[k]:.4f}", (i, step, p)
    assert page.locator("#greedy-title").inner_text().endswith("always the likeliest next token")
    # Continue: the same seed, 30 characters longer; the texts so far are its prefix (the cut last token
    # now whole), and the link counts characters.
    tab.set_inputs(length=30)
    page.locator("#continue").click()
    page.wait_for_function(f"window.chargen.state.finished && window.chargen.text('sampled').length === {LENGTH + 30}")
    longer = compare(model, PROMPT, LENGTH + 30, temperature=0.8, seed=8)
    assert (tab.text("greedy"), tab.text("sampled")) == (longer.greedy, longer.sampled)
    assert parse_qs(urlparse(page.url).query)["length"] == [str(LENGTH + 30)]
    tab.close()


def test_a_character_shows_its_tokens_distribution_and_the_page_reads_right(word_app, browser, tmp_path) -> None:
    built, url = word_app
    model = built.models["words"]
    tab = Page(browser, url)
    page = tab.page
    tab.playback("instant")
    tab.set_inputs(prompt=PROMPT, length=LENGTH, seed="31")
    tab.generate()
    tab.wait_finished()
    expected = compare(model, PROMPT, LENGTH, temperature=0.8, seed=31)
    assert (tab.text("greedy"), tab.text("sampled")) == (expected.greedy, expected.sampled)
    sampled_ends = ends(expected.sampled_steps)
    # A character inside a token of several characters (not the text's last, which may be cut).
    long_steps = [k for k, n in enumerate(expected.sampled_steps[:-1]) if n >= 2]
    assert long_steps, "no sampled token of two characters or more"
    for k in long_steps[:3]:
        start, end = sampled_ends[k], sampled_ends[k + 1]
        token = expected.sampled[start:end]
        page.locator(f"#sampled .c[data-i='{end - 1}']").click()
        caption = f"Token {k + 1} (from character {start + 1}) of the sampled text"
        page.wait_for_function(f"document.querySelector('#chart-caption').innerText.startsWith('{caption}')")
        drawn = page.locator("#chart-bars .bars.drawn")
        assert drawn.count() == 1 and drawn.get_attribute("data-char") == token
        assert drawn.get_attribute("data-pt") == page.locator(f"#sampled .c[data-i='{end - 1}']").get_attribute(
            "data-p"
        )
        assert drawn.get_attribute("data-pt") == f"{expected.sampled_probs[k]:.4f}"
        selected = page.eval_on_selector_all("#sampled .cg-text .c.sel", "els => els.map(e => Number(e.dataset.i))")
        assert selected == list(range(start, end))
    # The arrow keys move a token at a time.
    k = long_steps[0]
    page.locator(f"#sampled .c[data-i='{sampled_ends[k]}']").click()
    page.locator("#sampled .cg-text").press("ArrowRight")
    page.wait_for_function(f"document.querySelector('#chart-caption').innerText.startsWith('Token {k + 2} ')")
    # Whitespace tokens are labelled visibly in the chart.
    labels = page.evaluate(
        """() => {
            window.chargen.drawChart({temperature: 1, context: "a", drawn: null, unit: "word",
                rows: [["\\n\\n", 0.5, 0.5, false], [" ", 0.2, 0.2, false], ["cat", 0.1, 0.1, false]]});
            return [...document.querySelectorAll('#chart-bars .lbl')].map((e) => e.textContent);
        }"""
    )
    assert labels == ["\u21b5\u21b5", "\u00b7 space", "cat", "all others"]
    # The loop line and where the texts part, in characters.
    assert page.locator("#loop_line").inner_text() == views.loop_sentence(expected.greedy, expected.loop)
    part = views.parting_index(expected.greedy, expected.sampled)
    assert part is not None and f"part at character {part + 1}" in page.locator("#parting").inner_text()
    for which in ["greedy", "sampled"]:
        assert "part" in page.locator(f"#{which} .c[data-i='{part}']").get_attribute("class").split()
    # Whitespace is shown as markers; copy and download give the real text; the link makes the same texts again.
    shown = tab.shown("sampled")
    assert shown.count("\u00b7") == expected.sampled.count(" ") and shown.count("\u21b5") == expected.sampled.count(
        "\n"
    )
    page.locator("#sampled [data-copy]").click()
    assert page.evaluate("window.chargenCopied") == expected.sampled
    with page.expect_download() as download:
        page.locator("#greedy [data-download]").click()
    download.value.save_as(tmp_path / "greedy.txt")
    assert (tmp_path / "greedy.txt").read_text(encoding="utf-8") == expected.greedy
    query = parse_qs(urlparse(page.url).query)
    assert query["length"] == [str(LENGTH)] and query["model"] == ["words"] and query["seed"] == ["31"]
    other = Page(browser, page.url[: page.url.index("?")], query=page.url[page.url.index("?") :])
    other.wait_finished()
    assert (other.text("greedy"), other.text("sampled")) == (expected.greedy, expected.sampled)
    other.close()
    tab.close()


def test_the_character_model_beside_it_still_plays_a_character_at_a_time(word_app, browser) -> None:
    built, url = word_app
    tab = Page(browser, url)
    page = tab.page
    page.locator("#model input").click()
    page.get_by_role("option", name="chars").click()
    tab.set_inputs(prompt=PROMPT, length=60, seed="4")
    tab.playback("step by step")
    tab.generate()
    page.wait_for_function("window.chargen.state.data !== null && window.chargen.state.data.done")
    assert page.locator("#next_char").inner_text().startswith("Next character")
    for k in range(1, 6):
        page.locator("#next_char").click()
        page.wait_for_function(f"window.chargen.state.shown === {k}")
        assert page.locator("#greedy .cg-text .c").count() == page.locator("#sampled .cg-text .c").count() == k
    expected = compare(built.models["chars"], PROMPT, 60, temperature=0.8, seed=4)
    assert tab.text("sampled") == expected.sampled[:5]
    tab.close()
