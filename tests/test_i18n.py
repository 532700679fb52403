"""The page's catalogues (issue 23): English and Marathi hold the same keys and placeholders, every key is used,
the server's English comes from them, and every refusal the Generate tab raises is a catalogue template the page
can say in Marathi."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gradio as gr
import pytest

from chargen.app import i18n, views
from chargen.app.generate_tab import Handlers
from chargen.inference.generate import compare
from tests.helpers import tiny_model

PACKAGE = Path(i18n.__file__).resolve().parents[1]
"""The ``chargen`` package: its sources name the keys they use."""
TESTS = Path(__file__).resolve().parent
"""The tests: an ``error.*`` or ``gradio.*`` key is used when a test names it for a real message it matched."""
GROUPS = ("page", "generate", "lesson", "chart", "notice", "error", "inside", "train", "gradio")
"""The catalogues' groups (where on the page the words appear), in the files' order."""
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _catalogue_text(language: str) -> str:
    return i18n.catalogue_path(language).read_text(encoding="utf-8")


@pytest.mark.parametrize("language", [code for code in i18n.LANGUAGES if code != i18n.DEFAULT_LANGUAGE])
def test_every_catalogue_has_englishs_keys_in_the_same_order_and_the_same_placeholders(language) -> None:
    english, other = i18n.catalogue("en"), i18n.catalogue(language)
    assert list(english) == list(other)
    for key, words in english.items():
        assert i18n.placeholders(words) == i18n.placeholders(other[key]), key
        assert words.count("**") == other[key].count("**"), key  # the same words in bold
        # Placeholders are names only (str.format's), never next to each other (the page could not match them).
        assert not re.search(r"\{[^}]*[^\w}][^}]*\}|\}\{", words), key
        # A continuation after inline code (English starting with punctuation) may start with a space in a
        # language that puts a word there ("`.txt` फाइल ...").
        continuation = words[:1] in ";,.)"
        assert other[key].strip() and other[key] == other[key].strip() or words != words.strip() or continuation, key


def test_keys_are_grouped_in_the_design_order_and_the_files_are_plain_json() -> None:
    for language in i18n.LANGUAGES:
        keys = list(json.loads(_catalogue_text(language)))
        groups = [key.split(".")[0] for key in keys]
        assert set(groups) <= set(GROUPS), language
        assert groups == sorted(groups, key=GROUPS.index), f"{language}: a group's keys are not together"


def test_marathi_words_are_marathi_apart_from_names_codes_and_units() -> None:
    # What may stay in Latin letters inside a Marathi entry: names, code, units, sampling's settings.
    allowed = {"chargen", "LSTM", "GRU", "RNN", "nats", "JSON", "API", "MCP", "Gradio", "Ctrl", "Enter", "Top"}
    for key, words in i18n.catalogue("mr").items():
        if key.startswith(("inside.", "train.")):  # the other tabs' words: their own tests check them
            continue
        latin = set(LATIN_WORD.findall(re.sub(r"\{\w+\}|top-[kp]|Top-[kp]", "", words))) - allowed
        assert not latin, (key, latin)


def _sources() -> str:
    files = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.js"), *PACKAGE.rglob("*.html")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def test_every_key_is_used() -> None:
    """Named by a literal in the package's sources (``text("key"``, ``t("key"``, ``data-i18n="key"``, a key in a
    table), or for a refusal or gradio's own words, by the test that matched a real message to it."""
    sources = _sources()
    tests = "\n".join(path.read_text(encoding="utf-8") for path in TESTS.glob("test_*.py"))
    named = set(re.findall(r"""["':;]([a-z]+(?:\.[a-z0-9_]+)+)(?=["';])""", sources))
    named |= set(re.findall(r"""[\w-]+:([a-z]+(?:\.[a-z0-9_]+)+)""", sources))  # data-i18n-attr="aria-label:key;..."
    matched = set(re.findall(r"""["']((?:error|gradio)(?:\.[a-z0-9_]+)+)["']""", tests))
    unused = [key for key in i18n.catalogue("en") if key not in named and key not in matched]
    assert not unused, f"keys nothing uses: {unused}"


def test_a_missing_key_or_value_is_an_error() -> None:
    with pytest.raises(KeyError):
        i18n.text("generate.no_such_key")
    with pytest.raises(KeyError):
        i18n.text("generate.length_info", low=10)  # {high} has no value
    with pytest.raises(ValueError, match="no catalogue for language"):
        i18n.catalogue_path("xx")


def test_the_server_renders_english_from_the_catalogue() -> None:
    assert i18n.text("generate.length_info", low=10, high=2000) == "10 to 2000"
    model = tiny_model("lstm", layers=2, hidden=16)
    offered = views.OfferedModel("tiny", model)
    header = views.header_markdown(offered)
    assert header.startswith("# chargen: greedy vs. sampled\nThe **tiny** model, a 2-layer LSTM (16 units) with ")
    assert i18n.match("chargen: greedy vs. sampled") == ("page.title", {})
    assert i18n.match(header.split("\n", 1)[1]) == (
        "page.header",
        {
            "name": "tiny",
            "description": "a 2-layer LSTM (16 units)",
            "millions": views.millions(views.parameter_count(model)),
            "numbers": "parameters",
            "how": "one character at a time",
            "unit": "character",
        },
    )
    facts = views.facts_markdown(offered)
    assert i18n.match(facts)[0] == "generate.facts"
    assert i18n.match("no model card with training data or a held-out figure") == ("generate.no_card", {})


def test_the_loop_line_and_notices_come_with_their_codes_and_say_the_same() -> None:
    model = tiny_model(scale=3.0)
    comparison = compare(model, "", 120, temperature=0.8, seed=3)
    request = views.parse_request("", 0.8, 120, 0, 1.0, 3, "tiny", model_names=["tiny"])
    codes = views.prompt_notice_codes("", comparison)
    data = views.page_data(request, comparison, [views.said(code) for code in codes], notice_codes=codes)
    assert [code["code"] for code in data["notice_codes"]] == ["notice.prompt_empty"]
    assert data["notices"] == [f"The prompt was empty, so the model started from {comparison.prompt_used!r}."]
    assert data["loop_line"] == views.loop_sentence(comparison.greedy, comparison.loop) != ""
    assert views.said(data["loop_code"]) == data["loop_line"]
    assert data["loop_code"]["code"].startswith("lesson.loop_")
    # The details travel as JSON: the codes too.
    assert json.loads(json.dumps(data["loop_code"])) == data["loop_code"]


def _refusal(call) -> str:
    with pytest.raises(gr.Error) as raised:
        result = call()
        if hasattr(result, "__next__"):
            next(result)
    return raised.value.message


# Each refusal the Generate tab raises, the catalogue entry the page says it with, and those of its parts.
REFUSALS = [
    ({"temperature": 5}, "error.must_be", "error.temperature", "error.allowed_temperature"),
    ({"temperature": ""}, "error.empty", "error.temperature", "error.allowed_temperature"),
    ({"length": 5}, "error.must_be", "error.length", "error.allowed_length"),
    ({"length": "300.5"}, "error.must_be", "error.length", "error.allowed_length"),
    ({"top_k": 500}, "error.must_be", None, "error.allowed_top_k"),
    ({"top_p": 0}, "error.must_be", None, "error.allowed_top_p"),
    ({"seed": "-1"}, "error.must_be", "error.seed", "error.allowed_seed"),
    ({"prompt": "x" * (views.APP_MAX_PROMPT + 1)}, "error.prompt_long", None, None),
    ({"prompt": 12}, "error.prompt_type", None, None),
    ({"model_name": "nope"}, "error.model", None, None),
]


@pytest.mark.parametrize(("change", "key", "name_key", "allowed_key"), REFUSALS)
def test_every_refusal_of_the_generate_tab_is_a_catalogue_template(change, key, name_key, allowed_key) -> None:
    handlers = Handlers({"tiny": tiny_model()})
    inputs = {"prompt": "ab", "temperature": 0.8, "length": 50, "top_k": 0, "top_p": 1.0, "seed": 1, "model_name": None}
    inputs.update(change)
    message = _refusal(lambda: handlers.generate(**inputs))
    found = i18n.match(message)
    assert found is not None and found[0] == key, (message, found)
    # The template with the values it caught is the message again: the page can say it in Marathi.
    assert i18n.text(key, **found[1]) == message
    if allowed_key is not None:
        assert i18n.match(found[1]["allowed"])[0] == allowed_key
        # The setting's name in words, or its own name (top-k, top-p) where it has no other.
        name = i18n.match(found[1]["name"])
        assert (name[0] if name else found[1]["name"]) == (name_key or found[1]["name"])
    # The chart says the same refusal in its own words, also a template.
    distribution = {k: v for k, v in inputs.items() if k not in {"length", "seed"}}
    chart = handlers.page_distribution(**distribution)
    if "error" in chart:
        outer = i18n.match(chart["error"])
        assert outer is not None and outer[0] == "chart.error" and i18n.match(outer[1]["message"])[0] == key


def test_a_refusal_of_the_chart_is_a_catalogue_template_in_the_charts_words() -> None:
    handlers = Handlers({"tiny": tiny_model()})
    message = _refusal(lambda: handlers.distribution("ab", 0.8, None, "abc", 99))
    key, values = i18n.match(message)
    assert (key, i18n.match(values["name"])[0], i18n.match(values["allowed"])[0]) == (
        "error.must_be",
        "error.position",
        "error.allowed_position",
    )
    chart = handlers.page_distribution("ab", 0.8, None, "abc", 99)
    assert i18n.match(chart["error"]) == ("chart.error", {"message": message})


def test_marathi_says_a_refusal_with_only_the_visitors_value_in_latin_letters() -> None:
    message = _refusal(lambda: Handlers({"tiny": tiny_model()}).generate("ab", 5, 50, 0, 1.0, 1))
    key, values = i18n.match(message)
    inner = {name: i18n.match(value) for name, value in values.items()}
    said = {
        name: (i18n.catalogue("mr")[found[0]].format_map(found[1]) if found else value)
        for (name, value), found in zip(values.items(), inner.values(), strict=True)
    }
    marathi = i18n.catalogue("mr")[key].format_map(said)
    assert marathi == "तापमान 0 ते 2 मधील संख्या (0 = लोभी) असायला हवे, पण 5 मिळाले"


def test_a_number_placeholder_matches_only_a_number() -> None:
    # gradio's own "Click to Upload" is not "{low} to {high}" (the page said "Click ते Upload").
    assert i18n.match("Click to Upload") is None
    assert i18n.match("values from 50 to 500") is None
    assert i18n.match("10 to 2000") == ("generate.length_info", {"low": "10", "high": "2000"})


def test_the_header_says_a_small_models_size_in_millions_without_rounding_it_to_zero() -> None:
    assert [views.millions(n) for n in (3_300_000, 130_000, 30_074, 5_000)] == ["3.3", "0.1", "0.03", "0.005"]
    model = tiny_model("lstm", layers=1, hidden=8)
    count = sum(p.numel() for p in model.parameters())
    header = views.header_markdown(views.OfferedModel("tiny", model))
    assert f" with {views.millions(count)} M parameters" in header and float(views.millions(count)) > 0
