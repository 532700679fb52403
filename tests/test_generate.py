"""compare / stream_compare / generate on tiny seeded models: greedy is argmax, seeds reproduce,
streaming matches, prompts and limits behave, and the CLI prints it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import chargen
from chargen.checkpoint import save_checkpoint
from chargen.cli import main
from chargen.errors import ChargenError, ConfigError
from chargen.inference.generate import (
    DEFAULT_PROMPT,
    MAX_PROMPT_CHARS,
    compare,
    generate,
    next_char_distribution,
    prepare_prompt,
    reference_model,
    stream_compare,
)
from chargen.model import CharRNN
from tests.helpers import argmax_loop, tiny_model

ROOT = Path(__file__).resolve().parents[1]
VOCAB = "\n abcdefgh."
FAST = ("fp32", "fp16", "int8")


def tiny(cell: str = "lstm", layers: int = 2, hidden: int = 24, seed: int = 0, vocab: str = VOCAB) -> CharRNN:
    """A small random model; weights scaled up so its logits are far from uniform (no near-ties)."""
    return tiny_model(cell, vocab, hidden, layers, seed=seed, scale=3.0)


@pytest.fixture(scope="module")
def lstm() -> CharRNN:
    return tiny("lstm")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine two threads
    can collapse to a crawl (FACTS.md); the CLI makes the same choice."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- greedy is the argmax of the network that generates ----------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("precision", ["exact", "fp32", "fp16"])
def test_greedy_equals_a_plain_argmax_loop(cell, layers, precision):
    model = tiny(cell, layers)
    result = compare(model, "abc de", 60, temperature=1.0, seed=1, precision=precision)
    assert result.greedy == argmax_loop(reference_model(model, precision), "abc de", 60)
    assert result.greedy == argmax_loop(model, "abc de", 60)  # fp16 rounding moves no argmax here


def test_greedy_does_not_depend_on_the_sampled_row(lstm):
    results = [compare(lstm, "ab", 80, temperature=t, seed=s) for t, s in [(0.5, 1), (2.0, 2), (4.0, 3)]]
    assert len({r.greedy for r in results}) == 1
    assert len({r.sampled for r in results}) == 3


# --- seeds ---------------------------------------------------------------------------------


def test_same_seed_same_text_and_different_seed_different(lstm):
    a = compare(lstm, "abc", 100, temperature=1.0, seed=42)
    b = compare(lstm, "abc", 100, temperature=1.0, seed=42)
    c = compare(lstm, "abc", 100, temperature=1.0, seed=43)
    assert a == b
    assert a.sampled != c.sampled
    assert a.seed == 42


def test_no_seed_gives_a_fresh_one_that_reproduces(lstm):
    first = compare(lstm, "abc", 60, temperature=1.5)
    second = compare(lstm, "abc", 60, temperature=1.5)
    assert isinstance(first.seed, int) and first.seed != second.seed
    assert compare(lstm, "abc", 60, temperature=1.5, seed=first.seed).sampled == first.sampled


def test_global_random_state_is_untouched(lstm):
    torch.manual_seed(7)
    state = torch.get_rng_state()
    compare(lstm, "abc", 30, seed=1)
    compare(lstm, "abc", 30)
    assert torch.equal(torch.get_rng_state(), state)


def test_generate_equals_compares_sampled_text(lstm):
    pair = compare(lstm, "ab c", 70, temperature=1.2, top_k=5, seed=11)
    one = generate(lstm, "ab c", 70, temperature=1.2, top_k=5, seed=11)
    assert (one.text, one.seed, one.prompt_used, one.probs) == (pair.sampled, 11, "ab c", pair.sampled_probs)


# --- sampling ------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.6, 1.5])
def test_first_sampled_character_follows_softmax_over_temperature(temperature):
    model = tiny("gru", layers=1, hidden=8, seed=5)
    model.head.bias.data = torch.linspace(-1.0, 1.0, len(model.vocab))  # a spread-out distribution
    expected = dict(next_char_distribution(model, "ab", temperature, precision="exact"))
    draws = 1500
    counts = dict.fromkeys(expected, 0)
    for seed in range(draws):
        counts[generate(model, "ab", 1, temperature=temperature, seed=seed, precision="exact").text] += 1
    # 1500 draws: standard error at most 0.013; 0.05 is almost four of them.
    assert max(abs(counts[ch] / draws - p) for ch, p in expected.items()) < 0.05


def test_sampled_probs_are_those_of_the_distribution_drawn_from(lstm):
    result = compare(lstm, "ab", 40, temperature=0.7, seed=3)
    assert len(result.sampled_probs) == len(result.sampled) == 40
    assert all(0.0 < p <= 1.0 for p in result.sampled_probs)
    first = dict(next_char_distribution(lstm, "ab", 0.7))[result.sampled[0]]
    assert result.sampled_probs[0] == pytest.approx(first, rel=1e-4)


def test_temperature_zero_samples_greedily(lstm):
    result = compare(lstm, "ab", 50, temperature=0, seed=1)
    assert result.sampled == result.greedy
    assert result.sampled_probs == [1.0] * 50


def test_top_k_one_is_greedy_at_any_temperature(lstm):
    result = compare(lstm, "ab", 50, temperature=3.0, top_k=1, seed=1)
    assert result.sampled == result.greedy


def test_neutral_settings_change_nothing(lstm):
    plain = compare(lstm, "ab", 50, temperature=1.0, seed=8)
    neutral = compare(lstm, "ab", 50, temperature=1.0, top_p=1.0, repetition_penalty=1.0, seed=8)
    assert neutral == plain


def test_filters_keep_samples_inside_the_kept_set(lstm):
    # With top-k 2 every sampled character is one of the two most likely at its step.
    result = compare(lstm, "ab", 60, temperature=5.0, top_k=2, seed=4, precision="exact")
    prefix = "ab"
    for ch in result.sampled:
        ranked = sorted(next_char_distribution(lstm, prefix, 1.0, precision="exact"), key=lambda x: -x[1])
        assert ch in {ranked[0][0], ranked[1][0]}
        prefix += ch


def test_repetition_penalty_changes_the_sampled_text_only(lstm):
    plain = compare(lstm, "ab", 80, temperature=0.0, seed=1)
    penalised = compare(lstm, "ab", 80, temperature=0.0, repetition_penalty=3.0, seed=1)
    assert penalised.greedy == plain.greedy
    assert penalised.sampled != plain.sampled


# --- streaming -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 100])
def test_streamed_final_equals_compare(lstm, chunk_size):
    settings = {"temperature": 0.9, "top_p": 0.9, "seed": 5}
    parts = list(stream_compare(lstm, "abc", 45, chunk_size=chunk_size, **settings))
    assert parts[-1] == compare(lstm, "abc", 45, **settings)
    assert len(parts) == -(-45 // chunk_size)
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    for earlier, later in zip(parts, parts[1:], strict=False):
        assert later.greedy.startswith(earlier.greedy) and later.sampled.startswith(earlier.sampled)
        assert len(later.sampled) - len(earlier.sampled) <= chunk_size
    assert all(p.loop is None for p in parts[:-1])


def test_stream_validates_at_the_call_not_at_the_first_next(lstm):
    with pytest.raises(ConfigError, match="temperature"):
        stream_compare(lstm, "ab", 10, temperature=9)
    with pytest.raises(ConfigError, match="chunk_size"):
        stream_compare(lstm, "ab", 10, chunk_size=0)


def test_stopping_the_stream_stops_the_work(lstm, monkeypatch):
    generate_module = sys.modules["chargen.inference.generate"]
    calls = []
    start = generate_module.start_stepper

    def counted_stepper(*args, **kwargs):  # every step of the stepper compare() starts is counted
        stepper = start(*args, **kwargs)
        step = stepper.step
        stepper.step = lambda ids: calls.append(1) or step(ids)
        return stepper

    monkeypatch.setattr(generate_module, "start_stepper", counted_stepper)
    stream = stream_compare(lstm, "ab", 5000, chunk_size=10, seed=1)
    assert not calls  # nothing runs before the first next()
    first = next(stream)
    assert len(first.sampled) == 10
    stream.close()
    assert 0 < len(calls) <= 10


# --- loops ---------------------------------------------------------------------------------


def test_loop_is_reported_for_the_greedy_text():
    # Many random tiny models fall into a greedy cycle; find one and check the report.
    for seed in range(20):
        result = compare(tiny("gru", 1, 8, seed=seed), "a", 300, seed=0)
        if result.loop is not None:
            break
    assert result.loop is not None
    loop = result.loop
    assert result.greedy[loop.start :] == (loop.unit * 400)[: len(result.greedy) - loop.start]
    assert result.loop == chargen.find_loop(result.greedy)


# --- prompts -------------------------------------------------------------------------------


def test_empty_prompt_uses_the_default(lstm):
    result = compare(lstm, "", 10, seed=1)
    assert result.prompt_used == DEFAULT_PROMPT
    assert result == compare(lstm, "\n", 10, seed=1)


def test_default_prompt_when_newline_is_unknown():
    model = tiny(vocab="xyz ")
    assert compare(model, "", 5, seed=1).prompt_used == " "


def test_unknown_characters_are_dropped_and_named(lstm):
    result = compare(lstm, "abé cæ dé", 10, seed=1)
    assert result.dropped == ["é", "æ"]
    assert result.prompt_used == "ab c d"
    assert compare(lstm, "ab c d", 10, seed=1).sampled == result.sampled


def test_a_prompt_of_only_unknown_characters_uses_the_default(lstm):
    result = compare(lstm, "ÉÆ", 10, seed=1)
    assert (result.dropped, result.prompt_used) == (["É", "Æ"], DEFAULT_PROMPT)


def test_the_prompt_is_bounded_to_its_last_characters(lstm):
    long_prompt = "a" * 100 + "bcd " * ((MAX_PROMPT_CHARS + 100) // 4)
    prepared = prepare_prompt(lstm, long_prompt)
    assert len(prepared.text) == MAX_PROMPT_CHARS
    assert prepared.text == long_prompt[-MAX_PROMPT_CHARS:]
    assert compare(lstm, long_prompt, 5, seed=1).prompt_used == prepared.text


def test_priming_carries_the_whole_prompt(lstm):
    assert compare(lstm, "abc abc", 30, seed=1).greedy != compare(lstm, "bc", 30, seed=1).greedy


# --- the model is left alone -----------------------------------------------------------------


def test_a_model_in_training_mode_generates_without_dropout_and_stays_in_training():
    model = tiny()
    model.config.dropout = 0.5
    model.drop.p = 0.5
    expected = compare(model, "ab", 40, seed=2)
    model.train()
    assert compare(model, "ab", 40, seed=2) == expected
    assert model.training


# --- next-character distribution --------------------------------------------------------------


@pytest.mark.parametrize("precision", ["exact", "auto"])
def test_next_char_distribution(lstm, precision):
    warm = next_char_distribution(lstm, "abc", 1.0, precision)
    assert sorted(ch for ch, _ in warm) == sorted(lstm.vocab.chars)
    assert sum(p for _, p in warm) == pytest.approx(1.0, abs=1e-5)
    with torch.inference_mode():
        logits = lstm(torch.tensor([lstm.vocab.encode("abc")]))[0][0, -1]
    expected = dict(zip(lstm.vocab.chars, torch.softmax(logits, -1).tolist(), strict=True))
    # exact is the model's own forward; auto (int8 here) primes on its own 7-bit network, so its
    # probabilities are the fp32 forward's only to int8's precision (see tests/test_engine.py).
    tolerance = 1e-4 if precision == "exact" else 0.01
    assert [p for _, p in warm] == pytest.approx([expected[ch] for ch, _ in warm], abs=tolerance)
    cold = next_char_distribution(lstm, "abc", 0, precision)
    greedy_first = compare(lstm, "abc", 1, temperature=0, precision=precision).greedy
    assert cold[0] == (greedy_first, 1.0) and all(p == 0.0 for _, p in cold[1:])
    hot = next_char_distribution(lstm, "abc", 5.0, precision)
    assert max(p for _, p in hot) < max(p for _, p in warm)


def test_next_char_distribution_is_likeliest_first_ties_in_vocabulary_order(lstm):
    for temperature in (0.0, 0.5, 1.0, 5.0):
        rows = next_char_distribution(lstm, "ab", temperature)
        probs = [p for _, p in rows]
        assert probs == sorted(probs, reverse=True)
        for (ch_a, p_a), (ch_b, p_b) in zip(rows, rows[1:], strict=False):
            if p_a == p_b:
                assert lstm.vocab.chars.index(ch_a) < lstm.vocab.chars.index(ch_b)


def test_distributions_at_several_temperatures_run_the_prompt_once(lstm, monkeypatch):
    from chargen.inference.generate import next_char_distributions

    generate_module = sys.modules["chargen.inference.generate"]  # chargen.inference.generate is also the function

    primed = []
    real = generate_module.start_stepper

    def counting(*args, **kwargs):
        primed.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(generate_module, "start_stepper", counting)
    tables = next_char_distributions(lstm, "abc", [1.0, 0.5, 0])
    assert len(primed) == 1
    monkeypatch.undo()
    assert tables == [next_char_distribution(lstm, "abc", t) for t in (1.0, 0.5, 0)]


def test_top_k_zero_is_off(lstm):
    assert compare(lstm, "ab", 40, top_k=0, seed=4) == compare(lstm, "ab", 40, top_k=None, seed=4)


# --- one settings object -------------------------------------------------------------------


def test_settings_object_gives_what_the_keyword_arguments_give(lstm):
    from chargen import SamplingSettings

    keywords = {"temperature": 1.3, "top_k": 5, "top_p": 0.9, "repetition_penalty": 1.2, "seed": 11}
    settings = SamplingSettings(**keywords, precision="fp16")
    assert compare(lstm, "ab", 50, settings=settings) == compare(lstm, "ab", 50, **keywords, precision="fp16")
    assert generate(lstm, "ab", 50, settings=settings).text == compare(lstm, "ab", 50, settings=settings).sampled
    streamed = list(stream_compare(lstm, "ab", 50, chunk_size=7, settings=settings))
    assert streamed[-1] == compare(lstm, "ab", 50, settings=settings)


def test_settings_are_checked_once_and_normalised():
    from dataclasses import FrozenInstanceError

    from chargen import SamplingSettings

    settings = SamplingSettings(temperature=1e-40, top_k=0)
    assert (settings.temperature, settings.top_k, settings.greedy) == (0.0, None, True)
    with pytest.raises(FrozenInstanceError):
        settings.temperature = 1.0  # type: ignore[misc]
    for bad, message in [
        ({"temperature": 6}, "temperature must be between 0 and 5, got 6"),
        ({"top_k": -2}, "top_k must be a whole number"),
        ({"top_p": 0}, "top_p must be greater than 0"),
        ({"repetition_penalty": 0.5}, "repetition_penalty must be"),
        ({"seed": -1}, "seed must be an integer between 0 and 2**63 - 1"),
        ({"precision": "int4"}, "precision must be one of auto, exact, fp32, fp16, int8, got 'int4'"),
    ]:
        with pytest.raises(ConfigError) as info:
            SamplingSettings(**bad)
        assert message in str(info.value)


def test_settings_and_keyword_arguments_are_not_mixed(lstm):
    from chargen import SamplingSettings

    with pytest.raises(ConfigError, match="pass settings= or the sampling arguments \\(temperature\\), not both"):
        compare(lstm, "ab", 10, temperature=0.5, settings=SamplingSettings())
    with pytest.raises(ConfigError, match="settings must be a chargen SamplingSettings"):
        compare(lstm, "ab", 10, settings={"temperature": 0.5})


def test_settings_by_position_and_by_keywords_are_one_call(lstm):
    from chargen import SamplingSettings

    settings = SamplingSettings(temperature=0.7, top_k=3, seed=11, precision="fp32")
    by_keywords = compare(lstm, "ab", 40, temperature=0.7, top_k=3, seed=11, precision="fp32")
    assert compare(lstm, "ab", 40, settings) == by_keywords == compare(lstm, "ab", 40, settings=settings)
    assert generate(lstm, "ab", 40, settings).text == by_keywords.sampled
    assert list(stream_compare(lstm, "ab", 40, settings, chunk_size=40)) == [by_keywords]


def test_mistaken_sampling_arguments_say_what_is_allowed(lstm):
    with pytest.raises(TypeError, match="unexpected keyword argument 'temprature'; the sampling arguments are temp"):
        compare(lstm, "ab", 10, temprature=0.5)
    with pytest.raises(TypeError, match="'chunk_size'"):
        compare(lstm, "ab", 10, chunk_size=2)  # stream_compare's, not compare's
    # A temperature passed by position, as before settings existed, is named as such.
    with pytest.raises(ConfigError, match="got float; pass temperature=0.8 by name"):
        compare(lstm, "ab", 10, 0.8)


# --- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"length": 0}, "length must be an integer between 1 and 5000, got 0"),
        ({"length": 5001}, "got 5001"),
        ({"length": 2.5}, "got 2.5"),
        ({"length": True}, "got True"),
        ({"temperature": 7}, "temperature must be between 0 and 5, got 7"),
        ({"temperature": -1.0}, "got -1"),
        ({"temperature": float("nan")}, "got nan"),
        ({"temperature": float("inf")}, "got inf"),
        ({"top_k": -1}, "top_k must be a whole number, 0 or None for no limit, got -1"),
        ({"top_k": 1.5}, "got 1.5"),
        ({"top_p": 0.0}, "top_p must be greater than 0 and at most 1"),
        ({"top_p": 1.01}, "got 1.01"),
        ({"repetition_penalty": 0.9}, "repetition_penalty must be a finite number of at least 1"),
        ({"seed": -1}, "seed must be an integer between 0 and 2**63 - 1"),
        ({"seed": 2**63}, "seed must be"),
        ({"seed": 1.5}, "seed must be"),
        ({"precision": "bf16"}, "precision must be one of auto, exact, fp32, fp16, int8"),
        ({"prompt": 12}, "prompt must be a string"),
    ],
)
@pytest.mark.parametrize("function", [compare, stream_compare, generate])
def test_every_limit_error(lstm, function, kwargs, message):
    arguments = {"prompt": "ab", "length": 10, **kwargs}
    with pytest.raises(ConfigError) as info:
        function(lstm, **arguments)
    assert message in str(info.value)
    assert isinstance(info.value, (ChargenError, ValueError))


def test_limits_at_the_edges_are_allowed(lstm):
    assert len(compare(lstm, "ab", 1, temperature=5.0, top_k=1, top_p=1.0, seed=2**63 - 1).sampled) == 1
    assert len(generate(lstm, "ab", 5000, temperature=0.0).text) == 5000


def test_next_char_distribution_validates(lstm):
    with pytest.raises(ConfigError, match="temperature"):
        next_char_distribution(lstm, "ab", 5.5)


def test_not_a_model():
    with pytest.raises(ConfigError, match="CharRNN"):
        compare("model", "ab", 10)


def test_public_api_is_exported():
    for name in ("compare", "stream_compare", "generate", "Comparison", "Generation", "find_loop", "Loop"):
        assert hasattr(chargen, name)
    assert chargen.compare is compare and chargen.generate is generate


# --- CLI -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    save_checkpoint(tiny(seed=1), folder)
    return folder


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["generate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json(checkpoint, capsys):
    code, out, _ = run_main(capsys, str(checkpoint), "--prompt", "ab", "--length", "30", "--seed", "4", "--json")
    assert code == 0
    data = json.loads(out)
    expected = compare(chargen.load_model(checkpoint), "ab", 30, seed=4)
    assert (data["greedy"], data["sampled"], data["seed"]) == (expected.greedy, expected.sampled, 4)
    assert data["temperature"] == 0.8 and data["top_k"] is None and data["prompt_used"] == "ab"
    assert data["loop"] == expected.to_dict()["loop"]


def test_cli_json_stream(checkpoint, capsys):
    args = [str(checkpoint), "--prompt", "ab", "--length", "25", "--temperature", "1.3", "--top-k", "4", "--seed", "2"]
    code, out, _ = run_main(capsys, *args, "--json", "--stream")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    final = lines[-1]
    assert final["done"] is True and len(lines) == 26
    assert "".join(line["greedy"] for line in lines[:-1]) == final["greedy"]
    assert "".join(line["sampled"] for line in lines[:-1]) == final["sampled"]
    expected = compare(chargen.load_model(checkpoint), "ab", 25, temperature=1.3, top_k=4, seed=2)
    assert (final["greedy"], final["sampled"]) == (expected.greedy, expected.sampled)


def test_cli_text_labels_both_continuations(checkpoint, capsys):
    code, out, err = run_main(capsys, str(checkpoint), "--prompt", "abé", "--length", "20", "--seed", "3")
    assert code == 0
    expected = compare(chargen.load_model(checkpoint), "ab", 20, seed=3)
    assert out.startswith("=== sampled (temperature 0.8, seed 3) ===\n" + expected.sampled + "\n")
    assert "=== greedy ===\n" + expected.greedy + "\n" in out
    assert out.rstrip().endswith("===") and "=== loop: " in out
    assert "dropped characters the model does not know: 'é'" in err


def test_cli_text_stream(checkpoint, capsys):
    code, out, _ = run_main(capsys, str(checkpoint), "--length", "20", "--seed", "3", "--stream")
    assert code == 0
    expected = compare(chargen.load_model(checkpoint), "", 20, seed=3)
    assert out.startswith("=== sampled (temperature 0.8, seed 3) ===\n" + expected.sampled + "\n=== greedy ===\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--temperature", "7"], "error: temperature must be between 0 and 5, got 7"),
        (["--length", "0"], "error: length must be an integer between 1 and 5000, got 0"),
        (["--top-p", "0"], "error: top_p must be greater than 0"),
        (["--precision", "bf16"], "error: precision must be one of"),
    ],
)
def test_cli_errors_are_one_line(checkpoint, capsys, args, message):
    code, out, err = run_main(capsys, str(checkpoint), *args)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and err.startswith(message)


def test_cli_missing_model(tmp_path, capsys):
    code, _, err = run_main(capsys, str(tmp_path / "nope"))
    assert code == 2 and err.startswith("error: ")


@pytest.mark.slow
def test_python_dash_m_chargen_generate(checkpoint):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "chargen", "generate", str(checkpoint), "--length", "12", "--seed", "1", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert len(data["greedy"]) == len(data["sampled"]) == 12 and data["seed"] == 1
