"""The "Look inside" views: their input checks and displayed values, and the app (``app.build_demo``
on the bundled models) called through gradio_client, bad input included. The real-browser test is
in test_inside_browser.py."""

from __future__ import annotations

import pytest

from chargen.app import inside_views
from chargen.errors import ConfigError
from chargen.inference import inside
from chargen.inference.generate import compare


@pytest.fixture(scope="module")
def models(app):
    """The app's models by short name (the bundled ones)."""
    return app.models


@pytest.fixture(scope="module")
def inside_client(client):
    """gradio_client on the app built by ``app.build_demo`` with the bundled models (conftest)."""
    return client


# --- inputs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0, 0.5, 1.0", [0.0, 0.5, 1.0]), ("1", [1.0]), (" 0.3;0.6  2 ", [0.3, 0.6, 2.0]), ([0, "1.5"], [0.0, 1.5])],
)
def test_temperatures_are_read_from_text(text, expected):
    assert inside_views.check_temperatures(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one number"),
        (" , ", "at least one number"),
        ("0 " * 9, "at most 8 temperatures, got 9"),
        ("0, hot", "temperature must be a number from 0 to 2"),
        ("0, 2.5", "temperature must be a number from 0 to 2"),
        ("nan", "temperature must be a number from 0 to 2"),
        (None, "temperatures must be text like"),
        (3, "temperatures must be text like"),
    ],
)
def test_bad_temperatures_are_refused_saying_what_is_allowed(text, message):
    with pytest.raises(ConfigError, match=message):
        inside_views.check_temperatures(text)


def test_widths_counts_and_texts_are_bounded():
    assert inside_views.check_width(2) == 2 and inside_views.check_width("16") == 16
    assert inside_views.check_count(8.0) == 8
    for width in (1, 17, 2.5, "x", None, True):
        with pytest.raises(ConfigError, match="beam width must be a whole number from 2 to 16"):
            inside_views.check_width(width)
    for count in (1, 9, "many"):
        with pytest.raises(ConfigError, match="number of samples must be a whole number from 2 to 8"):
            inside_views.check_count(count)
    assert inside_views.check_text("a" * inside_views.MAX_TEXT)
    with pytest.raises(ConfigError, match="the limit is 2,000"):
        inside_views.check_text("a" * (inside_views.MAX_TEXT + 1))
    for empty in ("", None):
        with pytest.raises(ConfigError, match="text is empty"):
            inside_views.check_text(empty)
    with pytest.raises(ConfigError, match="text must be text"):
        inside_views.check_text(["a"])


# --- displayed values ---------------------------------------------------------------------------


def test_surprise_shading_and_guesses():
    assert inside_views.surprise(1.0) == 0.0
    assert inside_views.surprise(0.5) == pytest.approx(1 / 8)
    assert inside_views.surprise(2**-8) == 1.0 and inside_views.surprise(0.0) == 1.0
    answer = [
        {"char": "b", "p": 0.5, "top": [["b", 0.5], ["c", 0.3]]},
        {"char": "\n", "p": 0.01, "top": [["a", 0.9], ["b", 0.05]]},
    ]
    pairs = inside_views.expectation_highlights("ab\n", answer)
    assert pairs == [("a", None), ("b", 0.125), ("\n", pytest.approx(0.830, abs=1e-3))]
    top, line = inside_views.guesses(answer, 1)
    assert top == {"1. b": 0.5, "2. c": 0.3}
    assert "its guess number 1" in line
    top, line = inside_views.guesses(answer, 2)
    assert list(top) == ["1. a", "2. b"] and "line break" in line and "not in its top 2" in line
    assert inside_views.guesses(answer, 0) == ({}, pytest.approx(inside_views.guesses(answer, 0)[1]))
    assert "first character" in inside_views.guesses(answer, 0)[1]
    summary = inside_views.expectations_summary(answer)
    assert "right for 1 of 2 characters (50%)" in summary


def test_sweep_labels_and_beam_summary():
    assert inside_views.entry_label({"temperature": 0.0, "seed": 4}) == "greedy (T = 0)"
    assert inside_views.entry_label({"temperature": 0.6, "seed": 4}) == "T = 0.6 · seed 4"
    assert inside_views.entry_info({"loop": None}) == "does not fall into a loop"
    line = inside_views.beam_summary({"text": "ab", "logprob": -2.0, "loop": None}, 2)
    assert "log-probability -2.0 (-1.000 per character, perplexity 2.72)" in line


def test_unit_highlights_scale_cell_states(models):
    text = inside_views.default_text("shakespeare")[:300]
    pairs, line = inside_views.unit_highlights(models, text, "shakespeare", 0, "cell", 34)
    assert "".join(ch for ch, _ in pairs) == text
    assert max(abs(v) for _, v in pairs) <= 1.0
    recorded = inside.activations(models["shakespeare"], text)
    raw = recorded.unit(0, "cell", 34)
    scale = max(1.0, max(abs(v) for v in raw))
    assert [v for _, v in pairs] == pytest.approx([v / scale for v in raw], abs=1e-3)
    assert "Layer 0, cell state, unit 34" in line
    with pytest.raises(ConfigError, match="unit must be a whole number from 0 to 511"):
        inside_views.unit_highlights(models, text, "shakespeare", 0, "cell", 512)
    with pytest.raises(ConfigError, match="model must be one of shakespeare, shakespeare-word, python"):
        inside_views.unit_highlights(models, text, "../etc", 0, "cell", 1)


def test_a_continuation_opens_as_the_prompt_generation_read_and_its_text(models):
    answer = [{"temperature": 0.0, "seed": 1, "text": "abc", "loop": None}]
    assert inside_views.continuation_text(models, "ROMEO:\n", answer, "shakespeare") == "ROMEO:\nabc"
    assert inside_views.continuation_text(models, "Zoë{", answer, "shakespeare") == "Zoabc"  # as generation read it
    assert inside_views.continuation_text(models, "", answer, "shakespeare") == "\nabc"
    long = [{**answer[0], "text": "a" * 2000}]
    assert len(inside_views.continuation_text(models, "ROMEO:", long, "shakespeare")) == inside_views.MAX_TEXT
    with pytest.raises(ConfigError, match="no continuation yet"):
        inside_views.continuation_text(models, "ROMEO:", [], "shakespeare")


def test_each_bundled_model_has_a_text_it_knows(models):
    for name, model in models.items():
        assert model.vocab.unknown(inside_views.default_text(name)) == []
        assert len(inside_views.default_text(name)) <= inside_views.MAX_TEXT


# --- the API ------------------------------------------------------------------------------------


def test_the_endpoints_and_their_inputs(inside_client):
    api = inside_client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    expected = {
        "/sweep": ["prompt", "length", "temperatures", "seed", "model_name"],
        "/samples": ["prompt", "length", "temperature", "count", "seed", "model_name"],
        "/expectations": ["text", "model_name"],
        "/cells": ["text", "model_name"],
        "/beam": ["prompt", "length", "width", "model_name"],
    }
    assert set(expected) <= set(api)
    for name, params in expected.items():
        got = api[name]["parameters"]
        assert [p["parameter_name"] for p in got] == params
        assert all(p["parameter_has_default"] for p in got[1:]), name
        labels = [part["label"] for part in api[name]["parameters"] + api[name]["returns"]]
        assert all(label and not label.startswith("value_") for label in labels), (name, labels)
    defaults = {p["parameter_name"]: p["parameter_default"] for p in api["/beam"]["parameters"]}
    assert defaults["width"] == 4


def test_sweep_equals_generate_for_each_temperature(inside_client, models):
    answer = inside_client.predict("ROMEO:\n", 200, "1.0, 0, 0.5", "11", api_name="/sweep")
    assert [entry["temperature"] for entry in answer] == [1.0, 0.0, 0.5]
    for entry in answer:
        assert set(entry) == {"temperature", "seed", "text", "loop"} and entry["seed"] == 11
        # /generate's greedy and sampled texts for the same prompt, length, temperature and seed.
        greedy, sampled = inside_client.predict(
            "ROMEO:\n", entry["temperature"], 200, 0, 1.0, "11", api_name="/generate"
        )[:2]
        assert entry["text"] == sampled
        if entry["temperature"] == 0:
            assert entry["text"] == greedy
        reference = compare(models["shakespeare"], "ROMEO:\n", 200, temperature=entry["temperature"], seed=11)
        assert entry["text"] == reference.sampled
    assert inside_client.predict("ROMEO:\n", 200, "1.0, 0, 0.5", "11", api_name="/sweep") == answer


def test_samples_take_consecutive_seeds(inside_client, models):
    answer = inside_client.predict("ROMEO:\n", 50, 0.9, 3, "7", api_name="/samples")
    assert [entry["seed"] for entry in answer] == [7, 8, 9]
    for entry in answer:
        assert (
            entry["text"] == compare(models["shakespeare"], "ROMEO:\n", 50, temperature=0.9, seed=entry["seed"]).sampled
        )


def test_expectations_rank_a_greedy_continuation_first(inside_client, models):
    prompt = "KING HENRY VI:\n"
    greedy = compare(models["shakespeare"], prompt, 300, seed=0).greedy
    answer = inside_client.predict(prompt + greedy, api_name="/expectations")
    assert len(answer) == len(prompt + greedy) - 1
    generated = answer[len(prompt) - 1 :]
    assert "".join(entry["char"] for entry in generated) == greedy
    for entry in generated:
        assert len(entry["top"]) == 5
        assert entry["top"][0][0] == entry["char"] or entry["top"][0][1] - entry["p"] < 1e-3, entry


def test_expectations_refuse_unknown_characters_by_name(inside_client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not in the vocabulary: 'é', '€'"):
        inside_client.predict("ROMEO: café €5", api_name="/expectations")


def test_cells_on_the_bundled_model_find_a_unit_past_one_half(inside_client):
    answer = inside_client.predict(api_name="/cells")  # the default text: the opening of Tiny Shakespeare
    assert answer and set(answer[0]) == {"layer", "kind", "unit", "property", "r"}
    assert [abs(m["r"]) for m in answer] == sorted((abs(m["r"]) for m in answer), reverse=True)
    assert abs(answer[0]["r"]) >= 0.5
    assert {m["property"] for m in answer} >= {"position in line", "speaker name"}


def test_cells_on_python_find_indentation(inside_client):
    answer = inside_client.predict(inside_views.default_text("python"), "python", api_name="/cells")
    assert "indentation" in {m["property"] for m in answer}
    assert max(abs(m["r"]) for m in answer if m["property"] == "indentation") >= 0.5


def test_beam_answers_text_logprob_and_loop(inside_client, models):
    answer = inside_client.predict("ROMEO:\n", 120, api_name="/beam")
    assert set(answer) == {"text", "logprob", "loop"}
    expected = inside.beam_search(models["shakespeare"], "ROMEO:\n", 120, width=4)
    assert answer["text"] == expected.text
    assert answer["logprob"] == pytest.approx(expected.logprob)
    wide = inside_client.predict("ROMEO:\n", 120, 16, api_name="/beam")
    greedy = inside.beam_search(models["shakespeare"], "ROMEO:\n", 120, width=1)
    assert wide["logprob"] >= greedy.logprob - 1e-6


@pytest.mark.parametrize(
    ("args", "endpoint", "message"),
    [
        (("ROMEO:", 5), "/sweep", "length must be a whole number of characters from 10 to 2000"),
        (("ROMEO:", 2001), "/beam", "length must be a whole number of characters from 10 to 2000"),
        (("ROMEO:", 50, "0 " * 9), "/sweep", "at most 8 temperatures, got 9"),
        (("ROMEO:", 50, "0, 3"), "/sweep", "temperature must be a number from 0 to 2"),
        (("ROMEO:", 50, "1", "minus one"), "/sweep", "seed must be blank"),
        (("ROMEO:", 50, 1.0, 20), "/samples", "number of samples must be a whole number from 2 to 8"),
        (("ROMEO:", 50, 1), "/beam", "beam width must be a whole number from 2 to 16"),
        (("ROMEO:", 50, 4, "/etc/passwd"), "/beam", "model must be one of shakespeare, shakespeare-word, python"),
        (("a" * 2001,), "/expectations", "the limit is 2,000"),
        (("",), "/cells", "text is empty"),
        (("x" * 6000, 50), "/sweep", "prompt is 6,000 characters long"),
    ],
)
def test_bad_input_is_refused_clearly_and_the_server_keeps_serving(inside_client, args, endpoint, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        inside_client.predict(*args, api_name=endpoint)
    assert len(inside_client.predict("ROMEO:", 10, "0", "1", api_name="/sweep")[0]["text"]) == 10
