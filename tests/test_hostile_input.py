"""Hostile input: any prompt and any numbers, through the library, the app's handler and the served API.

The promise, checked with hypothesis: every call either returns text of exactly the requested
length made only of the model's characters, or refuses with a short message that says what is
allowed, and the server keeps serving afterwards. Models are tiny so each example costs ~ms.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chargen import ConfigError, compare, generate, next_char_distribution, stream_compare
from chargen.inference.decoding import MAX_TEMPERATURE
from chargen.inference.generate import MAX_LENGTH, MAX_PROMPT_CHARS, MAX_SEED, PRECISIONS, Comparison
from chargen.model import CharRNN
from tests.helpers import tiny_model

VOCAB = "ab é中🙂\n"
MODELS = {cell: tiny_model(cell, vocab=VOCAB, hidden=8, layers=2, seed=3) for cell in ("lstm", "gru", "rnn")}
LONGEST_MESSAGE = 300
"""A refusal is a sentence, never an echo of a huge input."""

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)

# --- what a visitor or a caller can throw at us -----------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # surrogates included
SPECIAL_PROMPTS = st.sampled_from(
    [
        "",
        "\ud800",
        "\udfff\ud800ab",
        "\x00" * 10,
        "🙂🙂🙂",
        "\u202eab\u200b",
        "\r\n\t",
        "\ufeff中",
        "a" * (MAX_PROMPT_CHARS + 1),
        "ab " * 70_000,
    ]
)
PROMPTS = st.one_of(st.text(ANY_CHAR, max_size=40), st.text(st.sampled_from(VOCAB), max_size=40), SPECIAL_PROMPTS)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(ANY_CHAR, max_size=8),
    st.lists(st.integers(), max_size=2),
    st.binary(max_size=2),
    st.complex_numbers(max_magnitude=10),
)
NUMBERS = st.one_of(st.integers(-3, 3), st.floats(-1, 6), st.sampled_from([math.nan, math.inf, -math.inf, 1e308]))


# Each argument has values it should accept and hostile ones (which may still be acceptable:
# the oracle decides). A call spoils at most two arguments, so about a third of the calls are
# fully valid and each refusal has one or two clear causes.
LIBRARY_VALID = {
    "prompt": PROMPTS,
    "length": st.integers(1, 30),
    "temperature": st.floats(0, MAX_TEMPERATURE) | st.sampled_from([0, 1, 5, 1e-40, 5e-324]),
    "top_k": st.none() | st.integers(1, 12) | st.just(10**9),
    "top_p": st.none() | st.floats(0, 1, exclude_min=True),
    "repetition_penalty": st.none() | st.floats(1, 1e6),
    "seed": st.none() | st.integers(0, MAX_SEED),
    "precision": st.sampled_from(PRECISIONS),
}
LIBRARY_HOSTILE = {
    "prompt": JUNK,
    "length": st.integers(-3, 0) | st.sampled_from([MAX_LENGTH + 1, 10**30, 2.0]) | JUNK,
    "temperature": NUMBERS | JUNK,
    "top_k": st.integers(-2, -1) | JUNK,
    "top_p": st.floats(-0.5, 1.5) | JUNK,
    "repetition_penalty": st.floats(-1, 1) | JUNK,
    "seed": st.integers(-(2**64), -1) | st.integers(MAX_SEED + 1) | JUNK,
    "precision": st.text(max_size=6) | JUNK,
}


def mostly_valid(valid: dict[str, st.SearchStrategy], hostile: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """``(arguments, spoiled)``: arguments drawn from ``valid``, except the (up to two) names in
    ``spoiled``, drawn from ``hostile`` instead. Arguments keep the order of ``valid``."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
        spoiled = draw(st.sets(st.sampled_from(list(valid)), max_size=2))
        return {name: draw(hostile[name] if name in spoiled else valid[name]) for name in valid}, spoiled

    return build()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def library_call_is_valid(
    prompt: Any,
    length: Any,
    temperature: Any,
    top_k: Any,
    top_p: Any,
    repetition_penalty: Any,
    seed: Any,
    precision: Any,
) -> bool:
    """The documented limits of compare / generate, written out independently of their code."""
    return (
        isinstance(prompt, str)
        and _is_int(length)
        and 1 <= length <= MAX_LENGTH
        and _is_real(temperature)
        and 0 <= temperature <= MAX_TEMPERATURE
        and (top_k is None or (_is_int(top_k) and top_k >= 0))  # 0 = off, as in the app and the CLI
        and (top_p is None or (_is_real(top_p) and 0 < top_p <= 1))
        and (repetition_penalty is None or (_is_real(repetition_penalty) and repetition_penalty >= 1))
        and (seed is None or (_is_int(seed) and 0 <= seed <= MAX_SEED))
        and isinstance(precision, str)
        and precision in PRECISIONS
    )


def assert_clear_refusal(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message and len(message) <= LONGEST_MESSAGE, repr(message[:500])


def assert_made_of_the_model(text: str, length: int, model: CharRNN) -> None:
    assert len(text) == length
    assert set(text) <= set(model.vocab.chars), set(text) - set(model.vocab.chars)


# --- the library: compare, generate, stream_compare -----------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread, as the app uses: on two busy cores two threads can slow a step tenfold."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("length", [1, MAX_LENGTH])
def test_the_longest_and_shortest_lengths_are_served(length: int) -> None:
    result = compare(MODELS["gru"], "ab", length, seed=2, precision="fp32")
    assert_made_of_the_model(result.sampled, length, MODELS["gru"])
    with pytest.raises(ConfigError, match=f"length must be an integer between 1 and {MAX_LENGTH}"):
        compare(MODELS["gru"], "ab", MAX_LENGTH + 1)


@FAST
@given(cell=st.sampled_from(sorted(MODELS)), drawn=mostly_valid(LIBRARY_VALID, LIBRARY_HOSTILE))
def test_compare_and_generate_return_exact_text_or_refuse(cell: str, drawn: tuple[dict[str, Any], set[str]]) -> None:
    model = MODELS[cell]
    call, _ = drawn
    valid = library_call_is_valid(**call)
    try:
        result = compare(model, **call)
    except ConfigError as error:
        event("refused")
        assert not valid, f"refused a valid call: {error}"
        assert_clear_refusal(error)
        with pytest.raises(ConfigError):
            generate(model, **call)
        return
    event("served")
    assert valid, "accepted a call outside the documented limits"
    length = call["length"]
    assert_made_of_the_model(result.greedy, length, model)
    assert_made_of_the_model(result.sampled, length, model)
    assert len(result.sampled_probs) == length
    assert all(0.0 <= p <= 1.0 for p in result.sampled_probs)
    assert 1 <= len(result.prompt_used) <= MAX_PROMPT_CHARS
    assert set(result.prompt_used) <= set(model.vocab.chars)
    assert not set(result.dropped) & set(model.vocab.chars)
    one = generate(model, **{**call, "seed": result.seed})
    assert one.text == result.sampled  # the same seed makes the same text on either path


@pytest.mark.parametrize("temperature", [1e-29, 1e-31, 1e-45, 1e-106, 5e-324])
@pytest.mark.parametrize("cell", sorted(MODELS))
def test_vanishing_temperatures_sample_greedily_with_real_probabilities(cell: str, temperature: float) -> None:
    """Found by the property above: logits / 1e-106 overflowed float32 into nan probabilities."""
    model = MODELS[cell]
    for extra in ({}, {"top_k": 3, "repetition_penalty": 1.3}):
        result = compare(model, "ab", 30, temperature=temperature, seed=1, **extra)
        assert result.sampled == compare(model, "ab", 30, temperature=0.0, **extra).sampled
        assert result.sampled_probs == [1.0] * 30
    probabilities = [p for _, p in next_char_distribution(model, "ab", temperature)]
    assert all(math.isfinite(p) for p in probabilities) and sum(probabilities) == pytest.approx(1.0)


@FAST
@given(
    prompt=PROMPTS,
    length=st.one_of(st.integers(-2, 25), JUNK),
    temperature=st.one_of(NUMBERS, JUNK),
    chunk_size=st.one_of(st.integers(-2, 30), JUNK),
)
def test_stream_compare_grows_to_exact_text_or_refuses_at_the_call(prompt, length, temperature, chunk_size) -> None:
    model = MODELS["lstm"]
    try:
        stream = stream_compare(model, prompt, length, temperature=temperature, seed=5, chunk_size=chunk_size)
    except ConfigError as error:
        assert_clear_refusal(error)
        return
    results: list[Comparison] = list(stream)
    final = results[-1]
    assert final.done and not any(r.done for r in results[:-1])
    assert_made_of_the_model(final.greedy, length, model)
    assert_made_of_the_model(final.sampled, length, model)
    for partial in results:
        assert final.greedy.startswith(partial.greedy) and final.sampled.startswith(partial.sampled)


# --- the app's handler, called directly -------------------------------------------------------------

APP_MODELS = {"tiny-lstm": MODELS["lstm"], "tiny-gru": MODELS["gru"]}
NUMERIC_STRINGS = st.one_of(
    st.sampled_from(["300", " 0.5 ", "1e3", "nan", "inf", "-0", "١٢", "0x10", "1_000", "", "  ", "2000.0"]),
    st.integers(-10, 3000).map(str),
    st.floats().map(str),
)
# What JSON can carry: the API hands the handler exactly this, with preprocessing off.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR, max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)
APP_NUMBERS = st.one_of(NUMBERS, NUMERIC_STRINGS, JSON_VALUES)
APP_PROMPTS = st.one_of(PROMPTS, JSON_VALUES)
MODEL_NAMES = st.one_of(
    st.sampled_from([None, "", "tiny-lstm", "tiny-gru", "checkpoints/shakespeare", "../../etc/passwd", "a/b@main"]),
    JSON_VALUES,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app built by ``app.build_demo`` over two tiny models, for this module only."""
    from tests.helpers import build_app

    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    yield build_app(APP_MODELS)


def run_handler(app: Any, **inputs: Any) -> tuple:
    """The last update of the app's generate handler: (greedy, sampled, seed, loop line, ...)."""
    updates = list(app.handlers.generate(**inputs))
    assert updates, "the handler yielded nothing"
    return updates[-1]


def app_expects(length: Any) -> int:
    """How many characters the app promises for this length input."""
    from chargen.app import views

    return views.check_length(length)


def app_model(name: Any) -> CharRNN:
    """The model the app uses for this model-name input (blank means the first)."""
    from chargen.app import views

    return APP_MODELS[views.check_model_name(name, list(APP_MODELS))]


APP_VALID = {
    "prompt": PROMPTS.filter(lambda prompt: len(prompt) <= MAX_PROMPT_CHARS),
    "temperature": st.floats(0, 2) | st.sampled_from(["0", "2", " 1.5 ", 1e-300]),
    "length": st.integers(10, 40) | st.sampled_from(["10", "40.0", 25.0]),
    "top_k": st.none() | st.integers(0, 200) | st.sampled_from(["", "7", 3.0]),
    "top_p": st.none() | st.floats(0, 1, exclude_min=True) | st.sampled_from(["", "0.5"]),
    "seed": st.none() | st.integers(0, MAX_SEED) | st.sampled_from(["", " ", "42", 7.0]),
    "model_name": st.sampled_from([None, "", "tiny-lstm", "tiny-gru"]),
}
APP_HOSTILE = {
    "prompt": JSON_VALUES | SPECIAL_PROMPTS,
    "temperature": APP_NUMBERS,
    "length": APP_NUMBERS,
    "top_k": APP_NUMBERS,
    "top_p": APP_NUMBERS,
    "seed": st.integers(-(2**64), 2**65) | APP_NUMBERS,
    "model_name": MODEL_NAMES,
}


@FAST
@given(drawn=mostly_valid(APP_VALID, APP_HOSTILE))
def test_app_handler_returns_exact_text_or_a_gradio_error(app, drawn: tuple[dict[str, Any], set[str]]) -> None:
    import gradio as gr

    call, spoiled = drawn
    try:
        last = run_handler(app, **call)
    except gr.Error as error:
        event("refused")
        assert spoiled, f"refused a valid request: {error}"
        assert_clear_refusal(error)
        return
    event("served")
    model = app_model(call["model_name"])
    assert_made_of_the_model(last[0], app_expects(call["length"]), model)
    assert_made_of_the_model(last[1], app_expects(call["length"]), model)
    assert last[2].isdigit()


# --- the served app: raw JSON, as any HTTP client may send it --------------------------------------


@pytest.fixture(scope="module")
def served(app: Any) -> Iterator[tuple[str, int]]:
    """The app (tiny models) on a free 127.0.0.1 port, and the id of its generate event."""
    url = app.launch()
    try:
        fn_id = next(fn._id for fn in app.demo.fns.values() if fn.api_name == "generate")
        yield url, fn_id
    finally:
        app.demo.close()


def call_raw(url: str, fn_id: int, data: Any) -> dict:
    """Join the queue with ``data`` as JSON (lone surrogates escaped, as JSON allows) and return
    the ``process_completed`` message, or ``{"status": code}`` when the join itself is refused."""
    import httpx

    session = uuid.uuid4().hex
    body = json.dumps({"data": data, "fn_index": fn_id, "session_hash": session, "event_data": None})
    joined = httpx.post(url + "gradio_api/queue/join", content=body, headers={"content-type": "application/json"})
    if joined.status_code != 200:
        return {"status": joined.status_code}
    with httpx.stream("GET", url + "gradio_api/queue/data", params={"session_hash": session}, timeout=30) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the stream ended without a result")


def assert_still_serving(url: str, fn_id: int) -> None:
    done = call_raw(url, fn_id, ["ab", 0.5, 12, 0, 1, 1, None])
    assert done["success"], done
    assert len(done["output"]["data"][1]) == 12


@pytest.mark.slow
@settings(FAST, max_examples=25)  # each example is an HTTP round trip
@given(drawn=mostly_valid(APP_VALID, APP_HOSTILE))
def test_api_with_any_json_serves_or_refuses_clearly(served, drawn: tuple[dict[str, Any], set[str]]) -> None:
    url, fn_id = served
    call, spoiled = drawn
    done = call_raw(url, fn_id, list(call.values()))
    if done["success"]:
        event("served")
        greedy, sampled = done["output"]["data"][:2]
        model = app_model(call["model_name"])
        assert_made_of_the_model(greedy, app_expects(call["length"]), model)
        assert_made_of_the_model(sampled, app_expects(call["length"]), model)
    else:
        event("refused")
        error = done["output"]["error"]
        assert spoiled, f"refused a valid request: {error}"
        assert error and len(error) <= LONGEST_MESSAGE, error


@pytest.mark.slow
@pytest.mark.parametrize(
    "data",
    [
        [],
        ["ab"],
        "not a list",
        {"prompt": "ab"},
        [["ab"] * 7] * 7,
        ["\ud800" * 1000, "\udfff", "\ud800", None, None, None, "\ud800"],
    ],
)
def test_api_malformed_payloads_are_refused_and_the_server_keeps_serving(served, data) -> None:
    url, fn_id = served
    done = call_raw(url, fn_id, data)
    assert done.get("status") == 422 or done.get("success") is False, done
    assert_still_serving(url, fn_id)
