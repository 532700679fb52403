"""chargen.inference.inside on tiny seeded models: the sweep equals compare / generate row for row, expectations
are the generating network's, activations match a hand-written recurrence, correlations match
numpy, a trained cell finds a learnable property, and beam search matches brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from chargen.errors import ConfigError, UnknownCharactersError
from chargen.inference import inside
from chargen.inference.generate import compare, generate
from chargen.model import CharRNN, ModelConfig
from tests.helpers import recurrence

VOCAB = '\n "().:abcdefgh'


def tiny(cell: str = "lstm", layers: int = 2, hidden: int = 24, seed: int = 0, vocab: str = VOCAB) -> CharRNN:
    """A small random model; weights scaled up so its logits are far from uniform (no near-ties)."""
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab=sorted(set(vocab)), cell=cell, embedding_size=8, hidden_size=hidden, num_layers=layers, dropout=0.0
    )
    model = CharRNN(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model


@pytest.fixture(scope="module")
def lstm() -> CharRNN:
    return tiny()


# --- sweep --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("precision", ["auto", "int8", "fp32"])
def test_sweep_rows_equal_compare_for_each_temperature(cell, precision):
    model = tiny(cell)
    temperatures = [0, 0.3, 0.6, 1.0, 1.5, 2.0]
    for seed in (0, 11):
        entries = inside.sweep(model, "ab(c", 80, temperatures, seed=seed, precision=precision)
        assert [e.temperature for e in entries] == temperatures
        assert {e.seed for e in entries} == {seed}
        for entry in entries:
            result = compare(model, "ab(c", 80, temperature=entry.temperature, seed=seed, precision=precision)
            assert entry.text == result.sampled, entry.temperature
            if entry.temperature == 0:
                assert entry.text == result.greedy


def test_sweep_on_the_bundled_model_equals_compare():
    from chargen.hub import load_model

    model = load_model("checkpoints/shakespeare")
    entries = inside.sweep(model, "ROMEO:\n", 120, seed=3)
    assert [e.temperature for e in entries] == list(inside.DEFAULT_TEMPERATURES)
    for entry in entries:
        assert entry.text == compare(model, "ROMEO:\n", 120, temperature=entry.temperature, seed=3).sampled


def test_sweep_same_seed_same_texts_and_a_fresh_seed_reported(lstm):
    first = inside.sweep(lstm, "abc", 60, [0.5, 1.0], seed=42)
    assert first == inside.sweep(lstm, "abc", 60, [0.5, 1.0], seed=42)
    fresh = inside.sweep(lstm, "abc", 60, [1.0])
    assert fresh[0].text == inside.sweep(lstm, "abc", 60, [1.0], seed=fresh[0].seed)[0].text


def test_samples_use_consecutive_seeds_and_equal_generate(lstm):
    entries = inside.samples(lstm, "a.", 70, 1.2, 4, seed=100)
    assert [e.seed for e in entries] == [100, 101, 102, 103]
    for entry in entries:
        assert entry.temperature == 1.2
        assert entry.text == generate(lstm, "a.", 70, temperature=1.2, seed=entry.seed).text
    assert len({e.text for e in entries}) > 1


@pytest.mark.slow
def test_sweep_entries_carry_their_loop_line():
    model = tiny(seed=3)
    greedy = inside.sweep(model, "a", 300, [0], seed=0)[0]
    reference = compare(model, "a", 300, temperature=0, seed=0)
    assert (greedy.loop is None) == (reference.loop is None)
    as_dict = greedy.to_dict()
    assert set(as_dict) == {"temperature", "seed", "text", "loop"}
    if greedy.loop is not None:
        assert as_dict["loop"] == greedy.loop.describe("the text at greedy (T = 0)")
        assert f"every {reference.loop.period} character" in as_dict["loop"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperatures": []}, "a sweep takes 1 to 16 temperatures, got 0"),
        ({"temperatures": [1.0] * 17}, "a sweep takes 1 to 16 temperatures, got 17"),
        ({"temperatures": [0.5, 9]}, "temperature must be between 0 and 5"),
        ({"temperatures": "0.5"}, "temperatures must be a list of numbers"),
        ({"seed": -1}, "seed must be an integer"),
        ({"length": 0}, "length must be an integer between 1"),
    ],
)
def test_sweep_refuses_bad_settings(lstm, kwargs, message):
    args = {"prompt": "ab", "length": 10, **kwargs}
    with pytest.raises(ConfigError, match=message):
        inside.sweep(lstm, **args)


def test_samples_refuse_bad_counts_and_seeds_past_the_end(lstm):
    with pytest.raises(ConfigError, match="count must be a whole number from 1 to 16"):
        inside.samples(lstm, "a", 10, 1.0, 0)
    with pytest.raises(ConfigError, match="seed must be at most"):
        inside.samples(lstm, "a", 10, 1.0, 3, seed=2**63 - 2)


# --- expectations -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_characters_are_the_top_guess(cell):
    model = tiny(cell, seed=5)
    prompt = "ab (c"
    greedy = compare(model, prompt, 150, seed=0).greedy
    # Read the way generation read it (the prompt primed): every greedy character is top-1.
    exact = inside.expectations(model, prompt + greedy, primed=len(prompt))
    assert len(exact) == len(prompt + greedy) - 1
    generated = exact[len(prompt) - 1 :]
    assert [e.char for e in generated] == list(greedy)
    assert all(e.rank == 1 for e in generated)
    # Stepped from the first character: top-1 but for float-level near-ties.
    stepped = inside.expectations(model, prompt + greedy)[len(prompt) - 1 :]
    for entry in stepped:
        assert entry.rank == 1 or entry.top[0][1] - entry.p < 1e-3, entry


def test_expectations_on_the_bundled_model_rank_greedy_first():
    from chargen.hub import load_model

    model = load_model("checkpoints/shakespeare")
    prompt = "JULIET:\n"
    greedy = compare(model, prompt, 200, seed=0).greedy
    # Read as generation read it (the prompt primed): every generated character is the top guess.
    primed = inside.expectations(model, prompt + greedy, primed=len(prompt))[len(prompt) - 1 :]
    assert len(primed) == len(greedy) and all(e.rank == 1 for e in primed)
    # int8 (auto here) primes by stepping its own network, so reading the prompt stepped is reading it
    # primed: the same entries, exactly.
    assert inside.expectations(model, prompt + greedy)[len(prompt) - 1 :] == primed


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_int8_reads_a_prompt_primed_or_stepped_alike_and_fp32_primes_in_one_forward_pass(lstm, precision):
    text = "abc (de) fgh.\nhead"
    primed = inside.expectations(lstm, text, primed=8, precision=precision)
    stepped = inside.expectations(lstm, text, primed=1, precision=precision)
    if precision == "int8":
        assert primed == stepped
    else:
        # fp32's prompt predictions come from the forward pass that primes it: the model's own, to 1e-5.
        with torch.inference_mode():
            logits, _ = lstm(torch.tensor([lstm.vocab.encode(text)]))
        probs = torch.softmax(logits[0, :7].double(), dim=1)
        for i, entry in enumerate(primed[:7]):
            assert entry.p == pytest.approx(float(probs[i, lstm.vocab.chars.index(entry.char)]), abs=1e-5)


@pytest.mark.parametrize("precision", ["exact", "fp32", "int8"])
def test_expectations_are_the_softmax_of_the_models_own_forward(lstm, precision):
    text = "abc (de) fgh.\nhead"
    entries = inside.expectations(lstm, text, precision=precision)
    with torch.inference_mode():
        logits, _ = lstm(torch.tensor([lstm.vocab.encode(text)]))
    probs = torch.softmax(logits[0, :-1].double(), dim=1).numpy()  # (T - 1, V)
    tolerance = 0.03 if precision == "int8" else 1e-5
    chars = lstm.vocab.chars
    for i, entry in enumerate(entries):
        assert entry.char == text[i + 1]
        assert entry.p == pytest.approx(probs[i, chars.index(entry.char)], abs=tolerance)
        assert len(entry.top) == 5
        assert [p for _, p in entry.top] == sorted((p for _, p in entry.top), reverse=True)
        for ch, p in entry.top:
            assert p == pytest.approx(probs[i, chars.index(ch)], abs=tolerance)
        if precision != "int8":
            assert entry.top[0][0] == chars[int(np.argmax(probs[i]))]


def test_expectations_refuse_unknown_characters_by_name(lstm):
    with pytest.raises(UnknownCharactersError, match="'Z', 'é'") as caught:
        inside.expectations(lstm, "abZcé")
    assert caught.value.unknown == ["Z", "é"]


def test_expectations_of_a_short_text_and_the_dict_form(lstm):
    assert inside.expectations(lstm, "") == []
    assert inside.expectations(lstm, "a") == []
    (entry,) = inside.expectations(lstm, "ab")
    as_dict = entry.to_dict()
    assert as_dict["char"] == "b" and 0 < as_dict["p"] < 1
    assert len(as_dict["top"]) == 5 and all(len(pair) == 2 for pair in as_dict["top"])


# --- activations --------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("precision", ["exact", "fp32", "int8"])
def test_activations_are_the_recurrence_of_every_layer(cell, precision):
    model = tiny(cell, layers=2, hidden=12, seed=2)
    text = 'ab "cd" (ef)\ngh.'
    recorded = inside.activations(model, text, precision=precision)
    hidden, cell_state = recurrence(model, text)
    tolerance = 0.1 if precision == "int8" else 1e-4  # int8: 7-bit inputs, weights scaled up 3x
    np.testing.assert_allclose(recorded.hidden.numpy(), hidden, atol=tolerance)
    if cell == "lstm":
        assert recorded.kinds == ("hidden", "cell")
        np.testing.assert_allclose(recorded.cell.numpy(), cell_state, atol=tolerance * 4)
    else:
        assert recorded.kinds == ("hidden",) and recorded.cell is None
    assert recorded.unit(1, "hidden", 3) == pytest.approx(hidden[:, 1, 3].tolist(), abs=tolerance)


def test_activations_refuse_bad_units_kinds_and_texts(lstm):
    recorded = inside.activations(lstm, "abc")
    with pytest.raises(ConfigError, match="layer must be a whole number from 0 to 1"):
        recorded.unit(2, "hidden", 0)
    with pytest.raises(ConfigError, match="unit must be a whole number from 0 to 23"):
        recorded.unit(0, "cell", 24)
    with pytest.raises(ConfigError, match="kind must be one of hidden for this model"):
        inside.activations(tiny("gru"), "ab").unit(0, "cell", 0)
    with pytest.raises(ConfigError, match="text is empty"):
        inside.activations(lstm, "")
    with pytest.raises(UnknownCharactersError):
        inside.activations(lstm, "aXb")


# --- properties and correlations ----------------------------------------------------------------


def test_text_properties_by_hand():
    text = 'ROMEO:\n  say "hi" (a[b])\n'
    props = inside.text_properties(text)
    assert set(props) == set(inside.PROPERTIES)
    assert all(len(values) == len(text) for values in props.values())
    quote_open, quote_close = text.index('"'), text.rindex('"')
    assert props["inside quotes"] == [1.0 if quote_open <= i <= quote_close else 0.0 for i in range(len(text))]
    assert props["inside brackets"][text.index("(")] == 1.0
    assert props["inside brackets"][text.index("b")] == 2.0
    assert props["inside brackets"][text.index("]")] == 2.0
    assert props["inside brackets"][text.index(")")] == 1.0
    assert props["inside brackets"][-1] == 0.0
    assert props["position in line"][:7] == [1, 2, 3, 4, 5, 6, 0]
    assert props["start of line"] == [1.0 if i in (0, 7) else 0.0 for i in range(len(text))]
    assert props["speaker name"] == [1.0 if i < 6 else 0.0 for i in range(len(text))]
    assert props["start of speaker name"] == [1.0 if i == 0 else 0.0 for i in range(len(text))]
    assert props["indentation"][7:9] == [0.25, 0.5]
    assert props["indentation"][-2] == 0.5 and props["indentation"][3] == 0.0


def test_correlations_match_numpy():
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(300, 40, generator=gen)
    values[:, 5] = 2.5  # a constant unit: no correlation
    target = (torch.rand(300, generator=gen) * 3).floor()
    values[:, 7] = target * 0.3 + torch.randn(300, generator=gen) * 0.1
    r = inside.correlations(values, target.tolist())
    expected = [0.0 if u == 5 else np.corrcoef(values[:, u].numpy(), target.numpy())[0, 1] for u in range(40)]
    np.testing.assert_allclose(r.numpy(), expected, atol=1e-6)
    assert r[7] > 0.9
    both = inside.correlations(values, torch.stack([target, -target], dim=1))
    np.testing.assert_allclose(both[:, 0].numpy(), r.numpy(), atol=1e-6)
    np.testing.assert_allclose(both[:, 1].numpy(), -r.numpy(), atol=1e-6)


def test_find_cells_ranks_by_absolute_correlation(lstm):
    text = 'ab "cd" e (fg)\nhe bade "ha"\n(a.b)\n'
    recorded = inside.activations(lstm, text)
    matches = inside.find_cells(recorded, per_property=2)
    assert [abs(m.r) for m in matches] == sorted((abs(m.r) for m in matches), reverse=True)
    props = inside.text_properties(text)
    names = {m.property for m in matches}
    assert "speaker name" not in names  # constant over this text: left out
    assert {"inside quotes", "inside brackets", "position in line"} <= names
    for match in matches:
        unit = recorded.unit(match.layer, match.kind, match.unit)
        assert match.r == pytest.approx(np.corrcoef(unit, props[match.property])[0, 1], abs=1e-6)
        assert set(match.to_dict()) == {"layer", "kind", "unit", "property", "r"}
    # The best unit for a property is the best of all units: check one against every unit.
    quotes = [m for m in matches if m.property == "inside quotes"][0]
    for kind in recorded.kinds:
        for layer in range(2):
            for unit in range(24):
                r = np.corrcoef(recorded.unit(layer, kind, unit), props["inside quotes"])[0, 1]
                assert abs(r) <= abs(quotes.r) + 1e-6
    assert inside.find_cells(lstm, text, per_property=1) == inside.find_cells(recorded, per_property=1)


def test_find_cells_refuses_unknown_properties(lstm):
    with pytest.raises(ConfigError, match="unknown property"):
        inside.find_cells(lstm, "abc", properties=["colour"])
    with pytest.raises(ConfigError, match="needs a text"):
        inside.find_cells(lstm)


def fixed_lines(seed: int, lines: int, width: int = 10) -> str:
    """Lines of exactly ``width`` random letters: only a model that counts knows when the line break comes."""
    rng = np.random.default_rng(seed)
    return "".join("".join(rng.choice(list("abcd"), size=width)) + "\n" for _ in range(lines))


def best_r(model: CharRNN, text: str, name: str) -> float:
    return abs(next(m for m in inside.find_cells(model, text, per_property=1) if m.property == name).r)


@pytest.mark.slow
def test_a_trained_model_grows_a_position_in_line_cell():
    """Predicting the line break needs the position in the line, which no character shows: training
    grows a unit that follows it far more closely than any unit of the same model untrained."""
    torch.manual_seed(0)
    text = fixed_lines(0, 300)
    model = CharRNN(
        ModelConfig(vocab=sorted(set(text)), cell="lstm", embedding_size=8, hidden_size=16, num_layers=1, dropout=0.0)
    )
    unseen = fixed_lines(1, 30)
    untrained = best_r(model.eval(), unseen, "position in line")
    data = torch.tensor(model.vocab.encode(text))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(80):
        starts = torch.randint(0, len(data) - 65, (16,), generator=gen)
        batch = torch.stack([data[s : s + 65] for s in starts])
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained = best_r(model.eval(), unseen, "position in line")
    assert trained > 0.93, (untrained, trained)
    assert trained > untrained + 0.15, (untrained, trained)


# --- beam search --------------------------------------------------------------------------------


def sequence_logprobs(model: CharRNN, prompt: str, length: int, precision: str) -> dict[str, float]:
    """Every continuation of ``length`` characters with its log-probability, scored one row per text."""
    from chargen.inference.engine import start_stepper

    chars = model.vocab.chars
    texts = ["".join(t) for t in itertools.product(chars, repeat=length)]
    ids = torch.tensor([model.vocab.encode(t) for t in texts])  # (N, length)
    totals = torch.zeros(len(texts), dtype=torch.float64)
    with torch.inference_mode():
        stepper = start_stepper(model, model.vocab.encode(prompt), len(texts), precision)
        for t in range(length):
            logprobs = torch.log_softmax(stepper.logits.double(), dim=1)
            totals += logprobs.gather(1, ids[:, t : t + 1])[:, 0]
            if t + 1 < length:
                stepper.step(ids[:, t])
    return dict(zip(texts, totals.tolist(), strict=True))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("precision", ["exact", "int8"])
def test_a_wide_beam_finds_the_brute_force_best(cell, precision):
    model = tiny(cell, vocab="abc", seed=7)
    scored = sequence_logprobs(model, "ab", 3, precision)
    best = max(scored, key=scored.get)
    # Width >= 3**2 keeps every prefix of length 2, so the search is exhaustive.
    result = inside.beam_search(model, "ab", 3, width=9, precision=precision)
    assert result.text == best
    assert result.logprob == pytest.approx(scored[best], abs=1e-4)


@pytest.mark.parametrize("width", [2, 3, 4, 16])
def test_every_beam_reports_its_texts_true_logprob(width):
    model = tiny("lstm", vocab="abcd", seed=1)
    scored = sequence_logprobs(model, "a", 4, "int8")
    result = inside.beam_search(model, "a", 4, width=width)
    assert len(result.text) == 4
    assert result.logprob == pytest.approx(scored[result.text], abs=1e-4)
    # A beam of width w holds at least as good a text as the best of greedy...
    greedy = compare(model, "a", 4, seed=0).greedy
    assert result.logprob >= scored[greedy] - 1e-9 or width < 4
    # ... and never claims better than the best there is.
    assert result.logprob <= max(scored.values()) + 1e-9


@pytest.mark.slow
def test_width_one_is_greedy(lstm):
    result = inside.beam_search(lstm, "ab(", 120, width=1)
    assert result.text == compare(lstm, "ab(", 120, seed=0).greedy
    assert result.width == 1 and math.isfinite(result.logprob) and result.logprob < 0


@pytest.mark.slow
def test_beam_result_and_its_loop_line():
    model = tiny(seed=3)
    result = inside.beam_search(model, "a", 300, width=4)
    as_dict = result.to_dict()
    assert set(as_dict) == {"text", "logprob", "loop"}
    assert len(as_dict["text"]) == 300
    if result.loop is not None:
        assert as_dict["loop"].startswith("the beam's text repeats every")


@pytest.mark.parametrize("width", [0, 17, 2.5, True, "4"])
def test_beam_refuses_bad_widths(lstm, width):
    with pytest.raises(ConfigError, match="beam width must be a whole number from 1 to 16"):
        inside.beam_search(lstm, "a", 10, width=width)


def test_not_a_model():
    for call in (
        lambda: inside.sweep("model", "a", 10),
        lambda: inside.expectations(None, "ab"),
        lambda: inside.activations(3, "ab"),
        lambda: inside.beam_search({}, "a", 10),
    ):
        with pytest.raises(ConfigError, match="model must be a chargen CharRNN"):
            call()
