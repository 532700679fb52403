"""Look inside a word model (issue 17): every view works at the level of tokens, with lengths in characters.

Oracles: the sweep's rows equal compare / generate's texts (the same seed and temperature); the
expectations are the softmax of the model's own forward over the text's tokens; activations are
the textbook recurrence over the tokens; a cell's correlation is numpy's with the property after
each token; beam search matches brute force over every token sequence, and a plain re-statement
of the beam on the model's forward, one candidate at a time.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from chargen.app import inside_views
from chargen.inference import inside
from chargen.inference.generate import compare, generate
from chargen.model import CharRNN
from tests.helpers import make_text, pieces_of, recurrence, tiny_word_model

TINY_TEXT = "ab.ba.ab.aab.ab." * 20
"""Three characters and the word "ab" (the most frequent): a vocabulary small enough to search exhaustively."""


@pytest.fixture(scope="module")
def word_lstm() -> CharRNN:
    return tiny_word_model("lstm", scale=3.0, seed=1)


# --- sweep and samples --------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("precision", ["auto", "int8", "fp32"])
def test_word_sweep_rows_equal_compare_for_each_temperature(cell, precision):
    model = tiny_word_model(cell, scale=3.0, seed=2)
    temperatures = [0, 0.3, 0.6, 1.0, 1.5, 2.0]
    for seed, length in ((0, 80), (11, 37), (5, 1)):
        entries = inside.sweep(model, "the cat", length, temperatures, seed=seed, precision=precision)
        assert [e.temperature for e in entries] == temperatures
        for entry in entries:
            result = compare(model, "the cat", length, temperature=entry.temperature, seed=seed, precision=precision)
            assert entry.text == result.sampled, (entry.temperature, seed)
            assert len(entry.text) == length  # the last token cut where the characters asked for end
            if entry.temperature == 0:
                assert entry.text == result.greedy


def test_word_sweep_writes_words_and_a_loop_line_like_compare():
    model = tiny_word_model("lstm", scale=3.0, seed=1)
    entries = inside.sweep(model, "the", 300, [0, 1.0], seed=4)
    reference = compare(model, "the", 300, temperature=1.0, seed=4)
    # The sampled row wrote multi-character tokens: this is a word model's text, not a character one's.
    assert any(n > 1 for n in reference.sampled_steps)
    assert entries[1].text == reference.sampled
    assert (entries[0].loop is None) == (reference.loop is None)
    if reference.loop is not None:
        assert entries[0].loop == reference.loop


def test_word_samples_equal_generate_with_consecutive_seeds(word_lstm):
    entries = inside.samples(word_lstm, "a dog", 70, 1.2, 4, seed=100)
    assert [e.seed for e in entries] == [100, 101, 102, 103]
    for entry in entries:
        assert entry.text == generate(word_lstm, "a dog", 70, temperature=1.2, seed=entry.seed).text
    assert len({e.text for e in entries}) > 1
    # At T = 0 no row draws noise: every sample is the greedy text.
    greedy = compare(word_lstm, "a dog", 70, seed=0).greedy
    assert [e.text for e in inside.samples(word_lstm, "a dog", 70, 0.0, 3, seed=9)] == [greedy] * 3


# --- expectations -------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["exact", "fp32", "int8"])
def test_word_expectations_are_the_softmax_of_the_models_forward_over_tokens(word_lstm, precision):
    text = "The cat sat on a mat.\nA dog ran to the big red hat"
    ids = word_lstm.vocab.encode(text)
    tokens = [word_lstm.vocab.tokens[i] for i in ids]
    assert any(len(t) > 1 for t in tokens)
    entries = inside.expectations(word_lstm, text, precision=precision)
    assert [e.char for e in entries] == tokens[1:]  # one entry per token after the first, labelled by it
    with torch.inference_mode():
        logits, _ = word_lstm(torch.tensor([ids]))
    probs = torch.softmax(logits[0, :-1].double(), dim=1).numpy()  # (T - 1, V)
    tolerance = 0.03 if precision == "int8" else 1e-5
    index = {t: i for i, t in enumerate(word_lstm.vocab.tokens)}
    labels_seen = set()
    for i, entry in enumerate(entries):
        assert entry.p == pytest.approx(probs[i, ids[i + 1]], abs=tolerance)
        assert len(entry.top) == 5
        for token, p in entry.top:
            assert p == pytest.approx(probs[i, index[token]], abs=tolerance)
            labels_seen.add(token)
        if precision != "int8":
            assert entry.top[0][0] == word_lstm.vocab.tokens[int(np.argmax(probs[i]))]
    assert any(len(label) > 1 for label in labels_seen)  # the guesses are tokens, words among them


def test_greedy_tokens_are_the_top_guess(word_lstm):
    prompt = "the dog "
    result = compare(word_lstm, prompt, 120, seed=0)
    vocab = word_lstm.vocab
    written = [vocab.tokens.index(t) for t in pieces_of(result.greedy, result.greedy_steps)[:-1]]  # last may be cut
    prompt_ids = vocab.encode(prompt)
    # Expectations read the text's canonical tokens; generation may write a word the vocabulary
    # has in pieces ("t", "o" for "to"). Up to the first such place the two readings are the same
    # steps, and there every token greedy wrote is the model's first guess.
    canonical = vocab.encode(prompt + result.greedy)
    same = next(i for i, (a, b) in enumerate(zip(canonical, prompt_ids + written, strict=False)) if a != b)
    assert same - len(prompt_ids) >= 20
    exact = inside.expectations(word_lstm, prompt + result.greedy, primed=len(prompt_ids))
    after = exact[len(prompt_ids) - 1 : same - 1]
    assert [e.char for e in after] == [vocab.tokens[i] for i in written[: same - len(prompt_ids)]]
    assert all(e.rank == 1 for e in after)
    stepped = inside.expectations(word_lstm, prompt + result.greedy)[len(prompt_ids) - 1 : same - 1]
    for entry in stepped:
        assert entry.rank == 1 or entry.top[0][1] - entry.p < 1e-3, entry


# --- activations and cells ----------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("precision", ["exact", "int8"])
def test_word_activations_are_the_recurrence_over_the_tokens(cell, precision):
    model = tiny_word_model(cell, hidden=12, seed=3, scale=3.0)
    text = "The cat sat on the mat.\nWith a big red hat"
    recorded = inside.activations(model, text, precision=precision)
    tokens = tuple(model.vocab.tokens[i] for i in model.vocab.encode(text))
    assert recorded.tokens == tokens and recorded.steps == tokens and "".join(tokens) == text
    hidden, cell_state = recurrence(model, text)  # the recurrence over model.vocab.encode(text): tokens
    assert recorded.values.shape[0] == len(tokens) < len(text)
    tolerance = 0.1 if precision == "int8" else 1e-4
    np.testing.assert_allclose(recorded.hidden.numpy(), hidden, atol=tolerance)
    if cell == "lstm":
        np.testing.assert_allclose(recorded.cell.numpy(), cell_state, atol=tolerance * 4)


def test_step_properties_take_each_tokens_last_character():
    text = 'A "cat" (on)\nmat'
    tokens = ["A", " ", '"', "cat", '"', " ", "(", "on", ")", "\n", "mat"]
    per_char = inside.text_properties(text)
    per_token = inside.step_properties(text, tokens)
    assert per_token["position in line"] == [1, 2, 3, 6, 7, 8, 9, 11, 12, 0, 3]
    assert per_token["inside quotes"] == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert per_token["inside brackets"] == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0]
    assert inside.step_properties(text) == per_char
    with pytest.raises(ValueError, match="join to the text"):
        inside.step_properties(text, ["A"])


def test_word_cells_correlate_with_the_property_after_each_token(word_lstm):
    text = make_text()[:400]
    recorded = inside.activations(word_lstm, text)
    matches = inside.find_cells(recorded, per_property=2)
    assert matches and [abs(m.r) for m in matches] == sorted((abs(m.r) for m in matches), reverse=True)
    props = inside.text_properties(text)
    ends = np.cumsum([len(t) for t in recorded.tokens]) - 1
    for match in matches:
        unit = recorded.unit(match.layer, match.kind, match.unit)
        target = [props[match.property][i] for i in ends]
        assert match.r == pytest.approx(np.corrcoef(unit, target)[0, 1], abs=1e-5)
    assert inside.find_cells(word_lstm, text, per_property=1) == inside.find_cells(recorded, per_property=1)


# --- beam search --------------------------------------------------------------------------------


def next_logprobs(model: CharRNN, ids: list[int]) -> list[float]:
    """The model's own forward over ``ids``: log-probabilities of every next token."""
    with torch.inference_mode():
        logits, _ = model(torch.tensor([ids]))
    return torch.log_softmax(logits[0, -1].double(), dim=0).tolist()


def every_completion(model: CharRNN, prompt: str, length: int) -> dict[tuple[int, ...], float]:
    """Every token sequence that writes ``length`` characters (its last token may run past), and its log-probability."""
    lengths = model.vocab.token_lengths()
    prompt_ids = model.vocab.encode(prompt)
    scored: dict[tuple[int, ...], float] = {}

    def grow(ids: tuple[int, ...], written: int, logprob: float) -> None:
        if written >= length:
            scored[ids] = logprob
            return
        for token, lp in enumerate(next_logprobs(model, prompt_ids + list(ids))):
            grow((*ids, token), written + lengths[token], logprob + lp)

    grow((), 0, 0.0)
    return scored


def reference_beam(model: CharRNN, prompt: str, length: int, width: int) -> tuple[tuple[int, ...], float]:
    """Beam search over tokens as the docstring states it, on the model's forward, one candidate at a time."""
    lengths = model.vocab.token_lengths()
    prompt_ids = model.vocab.encode(prompt)
    beams: list[tuple[tuple[int, ...], float]] = [((), 0.0)]

    def complete(ids: tuple[int, ...]) -> bool:
        return sum(lengths[i] for i in ids) >= length

    while not all(complete(ids) for ids, _ in beams):
        candidates = []
        for ids, score in beams:
            if complete(ids):
                candidates.append((ids, score))
            else:
                logprobs = next_logprobs(model, prompt_ids + list(ids))
                candidates += [((*ids, token), score + lp) for token, lp in enumerate(logprobs)]
        beams = sorted(candidates, key=lambda c: -c[1])[:width]
    return beams[0]


def test_a_wide_word_beam_finds_the_brute_force_best():
    # Characters a, b, . and the word "ab": for 2 characters every candidate fits in a beam of 16
    # (4 first tokens, then 3 x 4 extensions and "ab" itself), so the search is exhaustive.
    model = tiny_word_model("lstm", text=TINY_TEXT, vocab_size=4, seed=4, scale=3.0)
    assert model.vocab.tokens == (".", "a", "b", "ab")
    scored = every_completion(model, "ab.", 2)
    best = max(scored, key=scored.get)
    result = inside.beam_search(model, "ab.", 2, width=16, precision="exact")
    assert result.text == model.vocab.decode(best)[:2]
    assert result.logprob == pytest.approx(scored[best], abs=1e-4)
    # Brute force over 3 characters: the beam never claims more than the best there is.
    scored = every_completion(model, "ab.", 3)
    result = inside.beam_search(model, "ab.", 3, width=16, precision="exact")
    assert result.logprob <= max(scored.values()) + 1e-6
    assert any(abs(v - result.logprob) < 1e-4 for k, v in scored.items() if model.vocab.decode(k)[:3] == result.text)


@pytest.mark.parametrize("width", [2, 3, 5])
@pytest.mark.parametrize("length", [4, 9])
def test_word_beam_equals_the_beam_restated_on_the_models_forward(width, length):
    model = tiny_word_model("gru", scale=3.0, seed=6)
    ids, logprob = reference_beam(model, "the", length, width)
    result = inside.beam_search(model, "the", length, width=width, precision="exact")
    assert result.text == model.vocab.decode(ids)[:length]
    assert len(result.text) == length
    assert result.logprob == pytest.approx(logprob, abs=1e-4)


def test_word_beam_of_width_one_is_greedy(word_lstm):
    result = inside.beam_search(word_lstm, "the cat", 150, width=1)
    assert result.text == compare(word_lstm, "the cat", 150, seed=0).greedy
    assert len(result.text) == 150


def test_word_beam_on_the_default_stepper_reports_its_texts_logprob(word_lstm):
    # A beam of 4 on the int8 stepper: its log-probability is within float error of its own tokens' (exact),
    # and at least the greedy text's.
    scored_beam = inside.beam_search(word_lstm, "a", 12, width=4)
    greedy = inside.beam_search(word_lstm, "a", 12, width=1)
    assert scored_beam.logprob >= greedy.logprob - 1e-9
    assert len(scored_beam.text) == 12


# --- the views over a word model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def word_models(word_lstm):
    return {"words": word_lstm}


def test_expectation_views_show_one_shaded_piece_per_token(word_models, word_lstm):
    text = "The cat sat on the mat."
    answer = inside_views.expectations_answer(word_models, text, "words")
    tokens = [word_lstm.vocab.tokens[i] for i in word_lstm.vocab.encode(text)]
    assert [entry["char"] for entry in answer] == tokens[1:]
    pairs = inside_views.expectation_highlights(text, answer)
    assert [piece for piece, _ in pairs] == tokens and pairs[0][1] is None
    assert [score for _, score in pairs[1:]] == [round(inside_views.surprise(e["p"]), 3) for e in answer]
    index = tokens.index("cat")
    top, line = inside_views.guesses(answer, index, "word")
    assert len(top) == 5 and f"Token {index + 1}, **cat**" in line
    assert "first token" in inside_views.guesses(answer, 0, "word")[1]
    summary = inside_views.expectations_summary(answer, "word")
    nats = -sum(np.log(e["p"]) for e in answer)
    assert f"{len(answer)} tokens" in summary
    assert f"{nats / sum(len(t) for t in tokens[1:]):.2f} nats per character" in summary


def test_unit_view_colours_each_tokens_characters(word_models, word_lstm):
    text = "The cat sat on the mat.\nA dog"
    pairs, line = inside_views.unit_highlights(word_models, text, "words", 1, "hidden", 3)
    assert "".join(piece for piece, _ in pairs) == text
    tokens = [word_lstm.vocab.tokens[i] for i in word_lstm.vocab.encode(text)]
    assert [piece for piece, _ in pairs] == tokens
    raw = inside.activations(word_lstm, text).unit(1, "hidden", 3)
    assert [v for _, v in pairs] == pytest.approx(raw, abs=1e-3)
    assert "after reading each token" in line


def test_sweep_and_beam_answers_of_a_word_model(word_models, word_lstm):
    answer = inside_views.sweep_answer(word_models, "the", 50, "0, 1", "7", "words")
    assert [entry["text"] for entry in answer] == [
        compare(word_lstm, "the", 50, temperature=t, seed=7).sampled for t in (0.0, 1.0)
    ]
    beam = inside_views.beam_answer(word_models, "the", 40, 3, "words")
    assert len(beam["text"]) == 40
    summary = inside_views.beam_summary(beam, 40)
    assert "per character" in summary


def test_text_properties_cells_answer_on_a_word_model(word_models):
    answer = inside_views.cells_answer(word_models, make_text()[:300], "words")
    assert answer and {"layer", "kind", "unit", "property", "r"} == set(answer[0])


def test_display_names_for_whitespace_tokens():
    assert inside_views.display_char("\n") == "line break"
    assert inside_views.display_char("  ") == "2 spaces"
    assert inside_views.display_char("\n\n  ") == "2 line breaks, 2 spaces"
    assert inside_views.display_char("cat") == "cat"


def test_word_completions_enumeration_is_complete():
    # The brute-force oracle itself: every completion of 2 characters over a 5-token vocabulary.
    model = tiny_word_model("lstm", text=TINY_TEXT, vocab_size=4, seed=4)
    lengths = model.vocab.token_lengths()
    expected = {
        ids
        for n in (1, 2)
        for ids in itertools.product(range(len(lengths)), repeat=n)
        if sum(lengths[i] for i in ids) >= 2 and sum(lengths[i] for i in ids[:-1]) < 2
    }
    scored = every_completion(model, "a", 2)
    assert set(scored) == expected
    assert sum(np.exp(list(scored.values()))) == pytest.approx(1.0, abs=1e-6)


# --- the tab's API, served ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def word_client(tmp_path_factory, word_lstm):
    """gradio_client on the app (``app.build_demo``) serving the tiny word model beside a character model."""
    import os

    from gradio_client import Client

    from tests.helpers import build_app, tiny_model

    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    built = build_app({"words": word_lstm, "chars": tiny_model()})
    url = built.launch()
    try:
        yield Client(url, verbose=False)
    finally:
        built.demo.close()


@pytest.mark.slow
def test_served_word_sweep_equals_generate(word_client, word_lstm):
    answer = word_client.predict("the cat", 120, "1.0, 0, 0.5", "11", "words", api_name="/sweep")
    assert [entry["temperature"] for entry in answer] == [1.0, 0.0, 0.5]
    for entry in answer:
        greedy, sampled = word_client.predict(
            "the cat", entry["temperature"], 120, 0, 1.0, "11", "words", api_name="/generate"
        )[:2]
        assert entry["text"] == sampled and len(sampled) == 120
        if entry["temperature"] == 0:
            assert entry["text"] == greedy
        assert entry["text"] == compare(word_lstm, "the cat", 120, temperature=entry["temperature"], seed=11).sampled


@pytest.mark.slow
def test_served_word_expectations_cells_and_beam(word_client, word_lstm):
    text = "The cat sat on the mat.\nA dog ran"
    answer = word_client.predict(text, "words", api_name="/expectations")
    tokens = [word_lstm.vocab.tokens[i] for i in word_lstm.vocab.encode(text)]
    assert [entry["char"] for entry in answer] == tokens[1:]
    assert [entry["p"] for entry in answer] == pytest.approx([e.p for e in inside.expectations(word_lstm, text)])
    cells = word_client.predict(make_text()[:300], "words", api_name="/cells")
    assert cells and max(abs(m["r"]) for m in cells) > 0
    beam = word_client.predict("the", 60, 4, "words", api_name="/beam")
    expected = inside.beam_search(word_lstm, "the", 60, width=4)
    assert beam["text"] == expected.text and beam["logprob"] == pytest.approx(expected.logprob)


BUNDLED_WORDS = Path(__file__).resolve().parent.parent / "checkpoints" / "shakespeare-word"


@pytest.mark.slow
@pytest.mark.skipif(not (BUNDLED_WORDS / "config.json").exists(), reason="the bundled word model is not here yet")
def test_the_bundled_word_model_sweeps_as_compare_and_ranks_greedy_tokens_first():
    from chargen.hub import load_model

    model = load_model(BUNDLED_WORDS)
    assert model.unit == "word"
    prompt = "ROMEO:\n"
    entries = inside.sweep(model, prompt, 200, seed=3)
    for entry in entries:
        assert entry.text == compare(model, prompt, 200, temperature=entry.temperature, seed=3).sampled
    result = compare(model, prompt, 200, seed=0)
    vocab = model.vocab
    written = [vocab.tokens.index(t) for t in pieces_of(result.greedy, result.greedy_steps)[:-1]]
    prompt_ids = vocab.encode(prompt)
    canonical = vocab.encode(prompt + result.greedy)
    same = next(
        (i for i, (a, b) in enumerate(zip(canonical, prompt_ids + written, strict=False)) if a != b),
        len(prompt_ids) + len(written),
    )
    primed = inside.expectations(model, prompt + result.greedy, primed=len(prompt_ids))
    assert all(e.rank == 1 for e in primed[len(prompt_ids) - 1 : same - 1])
