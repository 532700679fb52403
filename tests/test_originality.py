"""The originality meter against a brute-force search over every piece of the generated text."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargen.errors import CheckpointError
from chargen.inference.originality import (
    DIGEST_KEY,
    INDEX_NAME,
    TrainingTextIndex,
    find_index,
    originality,
    suffix_array,
)
from tests.helpers import run_cli

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "checkpoint-v1"

# Small alphabets make long shared pieces likely; non-ASCII checks the code point handling.
texts = st.text(alphabet="abé\n", max_size=60)


def brute_longest(generated: str, training: str) -> list[int]:
    """For each position, the longest piece starting there that occurs in ``training`` (by `in`)."""
    lengths = []
    for i in range(len(generated)):
        length = 0
        while i + length < len(generated) and generated[i : i + length + 1] in training:
            length += 1
        lengths.append(length)
    return lengths


def brute_share(generated: str, training: str, min_run: int) -> float:
    inside = set()
    for i, length in enumerate(brute_longest(generated, training)):
        if length >= min_run:
            inside.update(range(i, i + length))
    return round(len(inside) / len(generated), 4) if generated else 0.0


@given(texts)
@settings(max_examples=200, deadline=None)
def test_suffix_array_is_the_sorted_suffixes(text: str) -> None:
    assert suffix_array(text).tolist() == sorted(range(len(text)), key=lambda i: text[i:])


@given(training=texts, generated=texts, min_run=st.integers(1, 6))
@settings(max_examples=300, deadline=None)
def test_matches_a_brute_force_search(training: str, generated: str, min_run: int) -> None:
    index = TrainingTextIndex.build(training)
    lengths = brute_longest(generated, training)
    stats = index.matching_statistics(generated)
    assert [length for length, _ in stats] == lengths
    for i, (length, where) in enumerate(stats):  # each reported place really holds the piece
        assert training[where : where + length] == generated[i : i + length] if length else where == -1
    result = originality(generated, index, min_run=min_run)
    longest = max(lengths, default=0)
    assert result["longest_copy_chars"] == longest
    assert len(result["longest_copy_text"]) == longest and result["longest_copy_text"] in training
    if longest:
        at, source = result["longest_copy_at"], result["longest_copy_source_at"]
        assert generated[at : at + longest] == training[source : source + longest] == result["longest_copy_text"]
    assert result["copied_share"] == brute_share(generated, training, min_run)


def test_a_copied_passage_and_a_new_one() -> None:
    training = "Now is the winter of our discontent made glorious summer by this sun of York"
    index = TrainingTextIndex.build(training)
    result = originality("xx" + training[10:45] + "qqqq", index)
    assert result["longest_copy_chars"] == 35
    assert result["longest_copy_text"] == training[10:45]
    assert result["longest_copy_at"] == 2 and result["longest_copy_source_at"] == 10
    assert result["copied_share"] == round(35 / 41, 4)
    assert originality("", index) == {
        "longest_copy_chars": 0,
        "longest_copy_text": "",
        "longest_copy_at": -1,
        "longest_copy_source_at": -1,
        "copied_share": 0.0,
        "min_run": 20,
        "chars": 0,
        "training_chars": len(training),
    }


@pytest.mark.parametrize("text", ["", "a", "ascii text", "théâtre ☃ 𝄞 mixed"])
def test_save_load_round_trip(tmp_path, text: str) -> None:
    index = TrainingTextIndex.build(text)
    index.save(tmp_path / INDEX_NAME)
    loaded = find_index(tmp_path)
    assert loaded is not None and loaded.text == text
    assert np.array_equal(loaded.suffixes, index.suffixes)
    assert find_index(tmp_path / "nowhere") is None


def test_load_refuses_a_tampered_index(tmp_path) -> None:
    from safetensors.numpy import save_file

    index = TrainingTextIndex.build("banana bandana")
    path = index.save(tmp_path / INDEX_NAME)
    meta = {DIGEST_KEY: "0" * 64}
    save_file({"text": np.frombuffer(b"banana bandana", np.uint8).copy(), "suffix_array": index.suffixes}, path, meta)
    with pytest.raises(CheckpointError, match="digest"):
        TrainingTextIndex.load(path)
    path.write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="safetensors"):
        TrainingTextIndex.load(path)


@pytest.mark.slow
def test_cli_json_reports_both_texts() -> None:
    bundled = Path(__file__).resolve().parent.parent / "checkpoints" / "shakespeare"
    prompt = "ROMEO:\nBut soft, what light"
    done = run_cli("generate", str(bundled), "--prompt", prompt, "--length", "80", "--seed", "1", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    training = TrainingTextIndex.load(bundled / INDEX_NAME).text
    for name in ("greedy", "sampled"):
        meter = result["originality"][name]
        lengths = brute_longest(result[name], training)
        assert meter["longest_copy_chars"] == max(lengths) > 0
        assert meter["copied_share"] == brute_share(result[name], training, 20)
        assert meter["training_chars"] == 1_003_854
    # A model folder without an index reports null.
    done = run_cli("generate", str(FIXTURE_DIR), "--length", "5", "--seed", "1", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["originality"] is None


@pytest.mark.parametrize("seed", range(6))
def test_long_repeated_pieces_match_a_brute_force_search(seed: int) -> None:
    # Two letters make long pieces that occur many times: each position's search then starts next to
    # the last piece's place (the galloping path) and must still find the longest piece.
    rng = random.Random(seed)
    training = "".join(rng.choice("ab") for _ in range(400))
    generated = training[50:120] + "".join(rng.choice("ab") for _ in range(80)) + training[300:340]
    stats = TrainingTextIndex.build(training).matching_statistics(generated)
    assert [length for length, _ in stats] == brute_longest(generated, training)
    for i, (length, where) in enumerate(stats):
        assert training[where : where + length] == generated[i : i + length]
