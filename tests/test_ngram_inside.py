"""Look inside with an n-gram model: every view that reads probabilities works through the counts'
own stepper (sweep, samples, expectations, beam search); cells, which read a network's state, are
refused with a reason."""

from __future__ import annotations

import pytest

from chargen import compare
from chargen.errors import ConfigError
from chargen.inference import inside
from chargen.ngram import train_ngram
from chargen.vocab import Vocab

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n" * 12


@pytest.fixture(scope="module")
def ngram():
    vocab = Vocab.from_text(TEXT)
    return train_ngram([vocab.encode(TEXT)], vocab, 5)


def test_sweep_rows_are_compares_texts(ngram) -> None:
    entries = inside.sweep(ngram, "All:\n", 60, [0, 0.7, 1.3], seed=11)
    pair = compare(ngram, "All:\n", 60, temperature=0.7, seed=11)
    assert entries[0].text == pair.greedy and entries[1].text == pair.sampled
    assert entries[2].text == compare(ngram, "All:\n", 60, temperature=1.3, seed=11).sampled


def test_expectations_are_the_counts_probabilities(ngram) -> None:
    text = "Speak, speak.\n"
    expected = inside.expectations(ngram, text)
    ids = ngram.vocab.encode(text)
    for i, entry in enumerate(expected):
        assert entry.p == pytest.approx(float(ngram.probabilities(ids[: i + 1])[ids[i + 1]]), abs=1e-6)


def test_a_beam_of_one_is_greedy(ngram) -> None:
    assert inside.beam_search(ngram, "All:\n", 40, 1).text == compare(ngram, "All:\n", 40).greedy


def test_cells_are_refused_with_a_reason(ngram) -> None:
    with pytest.raises(ConfigError, match="n-gram model has no cells"):
        inside.activations(ngram, "All:\nSpeak")


@pytest.mark.parametrize("prompt", ["", "A", "Al", "All", "All:", "All:\n"])
def test_generation_reads_the_counts_of_the_context_whatever_the_prompts_length(ngram, prompt: str) -> None:
    """Greedy is the argmax of the counts after the text so far, from a prompt shorter than the order on."""
    import numpy as np

    greedy = compare(ngram, prompt, 30).greedy
    history = ngram.vocab.encode(prompt or "\n")  # an empty prompt starts after a line break
    for ch in greedy:
        assert ch == ngram.vocab.tokens[int(np.argmax(ngram.probabilities(history)))]
        history.append(ngram.vocab.encode(ch)[0])
