"""The Look inside tab's words come from the catalogues (issue 23): what its handlers draw is the English
catalogue's entry filled in, its loop lines say what the library's ``loop`` says, its refusals are the
catalogue's templates, and the Marathi catalogue has every ``inside.*`` key with the same placeholders.
The Marathi page itself is checked in a browser by test_i18n_inside_browser.py."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from chargen.app import i18n, inside_tab, inside_views
from chargen.app.i18n import catalogue, placeholders, text
from chargen.errors import ConfigError
from chargen.inference import inside
from chargen.inference.loops import find_loop
from tests.helpers import make_text, tiny_model, tiny_word_model

SOURCES = [Path(inside_tab.__file__), Path(inside_views.__file__)]
INSIDE_KEYS = [key for key in catalogue("en") if key.startswith("inside.")]
DEVANAGARI = re.compile(r"[\u0900-\u097f]")
SAME_IN_MARATHI = {"inside.cells.r", "inside.sweep.at"}
"""Entries that are only symbols and placeholders ("r", "T = {temperature}")."""


@pytest.fixture(scope="module")
def handlers() -> inside_tab.InsideHandlers:
    models = {"chars": tiny_model(vocab='ab \n"()cdefgh:ABC'), "words": tiny_word_model()}
    return inside_tab.InsideHandlers(models)


def test_both_catalogues_have_the_tabs_keys_with_the_same_placeholders_and_marathi_words():
    marathi = catalogue("mr")
    assert INSIDE_KEYS
    assert [key for key in marathi if key.startswith("inside.")] == INSIDE_KEYS  # same keys, same order
    for key in INSIDE_KEYS:
        english, translated = catalogue("en")[key], marathi[key]
        assert placeholders(translated) == placeholders(english), key
        assert translated.count("**") == english.count("**"), key  # the page bolds the same parts
        if key not in SAME_IN_MARATHI:
            assert DEVANAGARI.search(translated), (key, translated)


def test_every_inside_key_is_used_by_name_in_the_tabs_sources():
    source = "\n".join(path.read_text(encoding="utf-8") for path in SOURCES)
    used = set(re.findall(r'\btext\("(inside\.[\w.]+)"', source))
    assert used == set(INSIDE_KEYS)


def test_the_catalogue_files_are_flat_json_objects_of_strings():
    for language in i18n.LANGUAGES:
        with i18n.catalogue_path(language).open(encoding="utf-8") as file:
            words = json.load(file)
        assert all(isinstance(key, str) and isinstance(value, str) for key, value in words.items())


# --- the English the tab shows is the catalogue's ------------------------------------------------


def test_the_intro_is_the_catalogues_words_with_its_bold_as_html():
    parts = text("inside.intro").split("**")
    assert len(parts) == 11  # five bold phrases
    html = "".join(part if i % 2 == 0 else f"<b>{part}</b>" for i, part in enumerate(parts))
    assert inside_tab.INTRO == f"<p>{html}</p>"
    assert "<b>every temperature at once</b>" in inside_tab.INTRO
    assert inside_tab.MODEL_NOTE == f"<p>{text('inside.model_note')}</p>"


def test_the_beam_summary_a_handler_draws_is_the_catalogue_entry_filled(handlers):
    answer = handlers.beam("ab", 40, 3, "chars")
    drawn_text, line = handlers.draw_beam(answer)
    assert drawn_text == answer["text"]
    logprob, n = float(answer["logprob"]), len(answer["text"])
    values = {
        "logprob": f"{logprob:.1f}",
        "per_char": f"{logprob / n:.3f}",
        "perplexity": f"{math.exp(-logprob / n):.2f}",
    }
    loop = find_loop(answer["text"])
    if loop is None:
        assert line == text("inside.beam.summary", **values)
    elif loop.period == 1:
        assert line == text("inside.beam.summary_loop_one", start=loop.start + 1, **values)
    else:
        assert line == text("inside.beam.summary_loop", period=loop.period, start=loop.start + 1, **values)
    # The page's sentence ends with the loop line the API answered, word for word.
    assert line.endswith("; " + (answer["loop"] or "the beam's text does not fall into a loop"))


def test_the_cells_line_a_handler_draws_is_the_catalogue_entry_filled(handlers):
    sample = 'ABC:\nabc (def) "gh" a\n  bad cab\nCAB:\nfeed (a (b)) "c"\n' * 6  # the tiny model's characters
    answer = handlers.cells(sample, "chars")
    rows, layer, kind, unit, pairs, line = handlers.draw_cells(sample, "chars", answer)
    best = answer[0]
    assert (layer, kind, unit) == (best["layer"], best["kind"], best["unit"])
    values = {
        "property": best["property"],
        "r": f"{best['r']:.2f}",
        "layer": layer,
        "kind": kind,
        "unit": unit,
        "step": "character",
    }
    recorded = inside.activations(handlers.models["chars"], sample)
    scale = max(1.0, max(abs(v) for v in recorded.unit(layer, kind, unit))) if kind == "cell" else 1.0
    if scale == 1.0:
        assert line == text("inside.cells.best", **values)
    else:
        assert line == text("inside.cells.best_scaled", scale=f"{scale:.2f}", **values)
    assert line.startswith(f"The best match: {best['property']}, r = {best['r']:.2f}. Layer {layer}, {kind} state")
    # Nothing to follow: a text whose properties never change.
    assert handlers.draw_cells("aaaa", "chars", [])[-1] == text("inside.cells.none")


def test_the_expectations_lines_are_the_catalogue_entries_filled(handlers):
    words = make_text()[:200]
    answer = handlers.expectations(words, "words")
    _, summary, _, _ = handlers.draw_expectations(words, answer, "words")
    assert summary.startswith("The model's first guess was right for ") and f"of {len(answer)} tokens" in summary
    right = sum(1 for e in answer if e["top"][0][0] == e["char"])
    nats = -sum(math.log(e["p"]) for e in answer)
    expected = text(
        "inside.expect.summary_tokens",
        right=right,
        count=len(answer),
        percent=f"{100 * right / len(answer):.0f}",
        nats=f"{nats / sum(len(e['char']) for e in answer):.2f}",
        per_token=f"{nats / len(answer):.2f}",
    )
    assert summary == expected
    entry = answer[0]
    top, line = inside_views.guesses(answer, 1, "word")
    assert list(top) == [inside_views.guess_label(i + 1, guess) for i, (guess, _) in enumerate(entry["top"])]
    assert inside_views.guess_label(2, "\n") == text("inside.expect.guess_line_break", rank=2) == "2. line break"
    assert inside_views.guess_label(1, "\n\n") == text("inside.expect.guess_line_breaks", rank=1, count=2)
    assert inside_views.guess_label(3, "    ") == "3. 4 spaces" and inside_views.guess_label(4, "\t") == "4. tab"
    assert inside_views.guess_label(5, "kind") == "5. kind"  # the model's own words, never the catalogue's
    assert line.startswith("Token 2, **")
    assert inside_views.guesses(answer, 0, "word")[1] == text("inside.expect.first_token")
    assert inside_views.display_char("\n\n  ") == "2 line breaks, 2 spaces"


@pytest.mark.parametrize(
    "continuation",
    [
        "abcdefgh" + "xyz" * 20,  # a loop of 3 characters from character 9
        "hello" + "a" * 40,  # one character over and over
        "no loop at all here",
        "ab\nab\n" * 12,  # a loop from the start, line breaks in it
    ],
)
@pytest.mark.parametrize("temperature", [0.0, 0.6, 1.5])
def test_a_sweep_entrys_loop_line_says_what_the_librarys_line_says(continuation, temperature):
    # The oracle: the library's own line for the same text, as /sweep and /beam answer it.
    entry = inside.SweepEntry(
        temperature=temperature, seed=3, text=continuation, loop=find_loop(continuation)
    ).to_dict()
    assert inside_views.entry_info(entry) == (entry["loop"] or text("inside.sweep.no_loop"))
    beam = inside.BeamResult(text=continuation, logprob=-9.5, width=4, loop=find_loop(continuation)).to_dict()
    line = inside_views.beam_summary(beam, len(continuation))
    assert line.endswith("; " + (beam["loop"] or "the beam's text does not fall into a loop"))


@pytest.mark.parametrize(
    ("call", "key", "values"),
    [
        (lambda: inside_views.check_temperatures(3), "inside.error.temperatures_type", {"type": "int"}),
        (lambda: inside_views.check_temperatures(" , "), "inside.error.temperatures_empty", {}),
        (lambda: inside_views.check_temperatures("0 " * 9), "inside.error.temperatures_many", {"limit": 8, "count": 9}),
        (lambda: inside_views.check_text(""), "inside.error.text_empty", {}),
        (lambda: inside_views.check_text(5), "inside.error.text_type", {"type": "int"}),
        (lambda: inside_views.check_text("a" * 2001), "inside.error.text_long", {"length": "2,001", "limit": "2,000"}),
    ],
)
def test_the_tabs_refusals_are_the_catalogues_templates(call, key, values):
    with pytest.raises(ConfigError) as refused:
        call()
    assert str(refused.value) == text(key, **values)


def test_range_refusals_name_the_setting_in_the_catalogues_words(handlers):
    for call, name, low, high, value in [
        (lambda: inside_views.check_count(9), "inside.error.samples_name", 2, 8, "9"),
        (lambda: inside_views.check_width(1), "inside.error.width_name", 2, 16, "1"),
    ]:
        with pytest.raises(ConfigError) as refused:
            call()
        allowed = text("inside.error.whole_number", low=low, high=high)
        assert str(refused.value) == text("error.must_be", name=text(name), allowed=allowed, value=value)
    with pytest.raises(ConfigError, match=re.escape(text("inside.error.adapt_model"))):
        handlers.adapt("some text to read", "words")
    with pytest.raises(ConfigError, match=re.escape(text("inside.error.no_continuation"))):
        inside_views.continuation_text(handlers.models, "ab", [], "chars")


def test_the_state_choices_and_plot_are_named_from_the_catalogue(handlers):
    assert inside_tab.kind_choices(inside.CELL_KINDS) == [
        (text("inside.kind.hidden"), "hidden"),
        (text("inside.kind.cell"), "cell"),
    ]
    frame = inside_views.adapt_rows({"chars": [50, 100], "static": [2.0, 1.9], "adapted": [2.0, 1.8]})
    assert list(frame.columns) == [text("inside.adapt.x"), text("inside.adapt.y"), text("inside.adapt.curve")]
    assert set(frame[text("inside.adapt.curve")]) == set(inside_tab.ADAPT_COLORS)
    answer = {"static_nats_per_char": 1.9, "adapted_nats_per_char": 1.8, "segment": 50, "lr": 0.002}
    assert inside_views.adapt_summary(answer) == (
        "As trained: **1.900** nats per character; adapting as it reads: **1.800** (-0.100). The copy took a step "
        "after every 50 characters (learning rate 0.002); the served model is unchanged."
    )


def test_library_refusals_the_tab_can_meet_are_said_in_the_catalogues_words_and_the_librarys(handlers):
    """The oracle is the library's own refusal: the app refuses first, from the catalogue, word for word."""
    from chargen.ngram import train_ngram
    from chargen.vocab import Vocab

    sample = "ABC:\nabc def\n" * 8
    vocab = Vocab.from_text(sample)
    models = {"counts": train_ngram([vocab.encode(sample)], vocab, 3), **handlers.models}
    with pytest.raises(ConfigError) as library:
        inside.activations(models["counts"], sample)
    for call in (
        lambda: inside_views.cells_answer(models, sample, "counts"),
        lambda: inside_views.unit_highlights(models, sample, "counts", 0, "hidden", 0),
    ):
        with pytest.raises(ConfigError) as refused:
            call()
        assert str(refused.value) == str(library.value) == text("inside.error.ngram_cells")

    seed = 2**63 - 2
    with pytest.raises(ConfigError) as library:
        inside.samples(handlers.models["chars"], "ab", 10, 1.0, 4, seed=seed)
    with pytest.raises(ConfigError) as refused:
        inside_views.samples_answer(handlers.models, "ab", 10, 1.0, 4, seed, "chars")  # an API call
    assert str(refused.value) == str(library.value) == text("inside.error.samples_seed", count=4, last=3, seed=seed)
