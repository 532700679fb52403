"""The n-gram model against a brute-force interpolated Kneser-Ney written straight from its definition."""

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from chargen.errors import CheckpointError, ConfigError
from chargen.ngram import NgramConfig, NgramModel, count_ngrams, train_ngram
from chargen.vocab import Vocab

ALPHABET = "ab c\n"


def brute_kn(pieces: list[str], order: int, vocab: str):
    """P(w | history) by the textbook recursion over string n-grams of ``pieces`` (counted apart)."""
    counts: Counter[str] = Counter()
    before: dict[str, set[str]] = {}
    for piece in pieces:
        for n in range(1, order + 1):
            for i in range(len(piece) - n + 1):
                gram = piece[i : i + n]
                counts[gram] += 1
                if i > 0:
                    before.setdefault(gram, set()).add(piece[i - 1])

    def count(gram: str, top: bool) -> int:
        return counts[gram] if top else len(before.get(gram, ()))

    def discount(k: int, top: bool) -> float:
        values = [count(g, top) for g in counts if len(g) == k]
        n1, n2 = values.count(1), values.count(2)
        return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5

    def prob(k: int, context: str, w: str) -> float:
        if k == 0:
            return 1 / len(vocab)
        top = k == order
        total = sum(count(context + v, top) for v in vocab)
        lower = prob(k - 1, context[1:], w)
        if total == 0:
            return lower
        d = discount(k, top)
        distinct = sum(1 for v in vocab if count(context + v, top) > 0)
        return max(count(context + w, top) - d, 0) / total + d * distinct / total * lower

    def predict(history: str, w: str) -> float:
        context = history[len(history) - (order - 1) :] if order > 1 else ""
        return prob(len(context) + 1, context, w)

    return predict


def _model(pieces: list[str], order: int) -> NgramModel:
    vocab = Vocab.from_list(sorted(ALPHABET))
    return train_ngram([vocab.encode(p) for p in pieces], vocab, order)


@given(
    pieces=st.lists(st.text(alphabet=ALPHABET, max_size=40), min_size=1, max_size=3),
    order=st.integers(1, 4),
    histories=st.lists(st.text(alphabet=ALPHABET, max_size=5), min_size=1, max_size=4),
)
@settings(max_examples=150, deadline=None)
def test_matches_brute_force_kneser_ney(pieces: list[str], order: int, histories: list[str]) -> None:
    model = _model(pieces, order)
    oracle = brute_kn(pieces, order, "".join(model.vocab.tokens))
    # Contexts from the text itself (seen) and random ones (mostly unseen).
    histories = histories + [p[:i] for p in pieces for i in range(0, len(p), 3)]
    for history in histories:
        probs = model.probabilities(model.vocab.encode(history))
        assert probs.sum() == pytest.approx(1.0, abs=1e-12)
        expected = [oracle(history, w) for w in model.vocab.tokens]
        assert probs == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("order", [1, 2, 5, 10])
def test_probabilities_sum_to_one_at_every_context(order: int) -> None:
    text = "the cat sat on the mat; the rat ate the hat.\n" * 3 + "zebras\n"
    vocab = Vocab.from_text(text)
    model = train_ngram([vocab.encode(text)], vocab, order)
    ids = vocab.encode(text)
    for i in range(len(ids) + 1):
        probs = model.probabilities(ids[:i])
        assert probs.min() > 0 and probs.sum() == pytest.approx(1.0, abs=1e-12)


def test_forward_gives_log_probabilities_in_pieces_as_in_one_pass() -> None:
    text = "abracadabra, abracadabra\n" * 4
    vocab = Vocab.from_text(text)
    model = train_ngram([vocab.encode(text)], vocab, 4)
    ids = torch.tensor([vocab.encode(text[:30]), vocab.encode(text[30:60])])
    whole, state = model(ids)
    first, mid = model(ids[:, :11])
    second, end = model(ids[:, 11:], mid)
    assert torch.equal(torch.cat([first, second], 1), whole) and torch.equal(end, state)
    for t in range(30):  # each position is the distribution after the row's history
        expected = np.log(model.probabilities(ids[1, : t + 1].tolist()))
        assert torch.allclose(whole[1, t], torch.from_numpy(expected).float())
    assert torch.allclose(whole.exp().sum(-1), torch.ones(2, 30))


def test_known_counts() -> None:
    tensors = count_ngrams([[0, 1, 0, 1, 1]], 2, 2)
    # order 1 (continuation counts): 0 follows {1}; 1 follows {0, 1}
    assert tensors["order1.token"].tolist() == [0, 1] and tensors["order1.count"].tolist() == [1, 2]
    # order 2 (raw counts): 01 twice, 10 once, 11 once, sorted by (parent, token)
    assert tensors["order2.parent"].tolist() == [0, 1, 1] and tensors["order2.token"].tolist() == [1, 0, 1]
    assert tensors["order2.count"].tolist() == [2, 1, 1]
    assert tensors["discounts"].tolist() == pytest.approx([1 / 3, 0.5])  # order 2: n1 = 2, n2 = 1 -> 2/4


def test_order_and_tensors_are_checked() -> None:
    vocab = ("a", "b")
    with pytest.raises(ConfigError, match="order must be an integer from 1 to 10"):
        NgramConfig(vocab=vocab, order=11)
    from chargen.training.train import TrainConfig

    with pytest.raises(ConfigError, match="--cell ngram needs --order"):
        TrainConfig("corpus.txt", "out", cell="ngram")
    with pytest.raises(ConfigError, match="order applies to --cell ngram only"):
        TrainConfig("corpus.txt", "out", cell="gru", order=3)
    tensors = count_ngrams([[0, 1, 1, 0]], 2, 2)
    bad = {**tensors, "order2.token": np.array([1, 0, 1][: len(tensors["order2.token"])], dtype=np.int32)[::-1]}
    with pytest.raises(CheckpointError):
        NgramModel(NgramConfig(vocab=vocab, order=2), {**bad, "order2.parent": tensors["order2.parent"][::-1]})
    with pytest.raises(CheckpointError, match="missing"):
        NgramModel(NgramConfig(vocab=vocab, order=3), tensors)
    assert math.isclose(float(NgramModel(NgramConfig(vocab=vocab, order=2), tensors).probabilities([0]).sum()), 1.0)


def _shakespeare_like() -> str:
    return (
        "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
    ) * 4


def test_checkpoint_round_trip_and_load_model(tmp_path) -> None:
    from chargen.checkpoint import CONFIG_NAME, load_checkpoint, save_checkpoint
    from chargen.hub import load_model

    text = _shakespeare_like()
    vocab = Vocab.from_text(text)
    model = train_ngram([vocab.encode(text)], vocab, 4)
    save_checkpoint(model, tmp_path / "m")
    config = json.loads((tmp_path / "m" / CONFIG_NAME).read_text())
    assert config["cell"] == "ngram" and config["order"] == 4 and config["format_version"] == 4
    for loaded in (load_checkpoint(tmp_path / "m"), load_model(str(tmp_path / "m"))):
        assert isinstance(loaded, NgramModel) and loaded.config == model.config
        assert set(loaded.tensors) == set(model.tensors)
        for name, array in model.tensors.items():
            assert np.array_equal(loaded.tensors[name], array) and loaded.tensors[name].dtype == array.dtype
    # An edited config.json no longer matches its counts.
    (tmp_path / "m" / CONFIG_NAME).write_text(json.dumps({**config, "order": 3}))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "m")


def test_eval_is_the_mean_negative_log_probability() -> None:
    from chargen.training.evaluate import score_text

    text = _shakespeare_like()
    vocab = Vocab.from_text(text)
    model = train_ngram([vocab.encode(text[:300])], vocab, 3)
    held_out = text[300:420]
    ids = vocab.encode("\n" + held_out)  # every character is scored, read after a line break
    expected = -sum(math.log(model.probabilities(ids[:i])[ids[i]]) for i in range(1, len(ids))) / (len(ids) - 1)
    figures = score_text(model, held_out)
    assert figures["chars"] == len(held_out)
    assert figures["nats_per_char"] == pytest.approx(expected, abs=1e-5)


def test_generate_and_compare_step_through_the_counts() -> None:
    import chargen

    text = _shakespeare_like()
    vocab = Vocab.from_text(text)
    model = train_ngram([vocab.encode(text)], vocab, 6)
    settings = chargen.SamplingSettings(temperature=0.9, seed=5)
    pair = chargen.compare(model, "All:\n", 60, settings=settings)
    # Greedy is the argmax of the counts after the prompt, step by step.
    history = vocab.encode("All:\n")
    for ch in pair.greedy:
        assert ch == vocab.tokens[int(np.argmax(model.probabilities(history)))]
        history.append(vocab.encode(ch)[0])
    assert len(pair.sampled) == 60 and set(pair.sampled) <= set(text)
    # The same settings give the same sampled text; generate's text is compare's sampled text.
    assert chargen.generate(model, "All:\n", 60, settings=settings).text == pair.sampled
    # Every sampled step had positive probability under the temperature-scaled counts.
    assert all(0 < p <= 1 for p in pair.sampled_probs)


@pytest.mark.slow
def test_cli_trains_evaluates_and_generates(tmp_path) -> None:
    from tests.helpers import run_cli

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(_shakespeare_like() * 10)
    out = tmp_path / "ngram"
    done = run_cli("train", str(corpus), "--cell", "ngram", "--order", "5", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["step"] == 0 and 0 < summary["best_val_loss"] < 1.0  # the text repeats: easy to predict
    log = json.loads((out / "log.jsonl").read_text())
    assert log["order"] == 5 and log["val_loss"] == pytest.approx(summary["best_val_loss"], abs=1e-4)
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("All:\nSpeak, speak.\n")
    done = run_cli("eval", str(out), str(held_out))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["chars"] == 19
    done = run_cli("generate", str(out), "--prompt", "All:", "--length", "30", "--seed", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["sampled"]) == 30
    bad = run_cli("train", str(corpus), "--cell", "ngram", "--order", "11", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "order must be an integer from 1 to 10" in bad.stderr


def test_the_step_network_of_an_ngram_model() -> None:
    from chargen.inference.engine import resolve_precision, start_stepper, step_network

    text = _shakespeare_like()
    vocab = Vocab.from_text(text)
    model = train_ngram([vocab.encode(text)], vocab, 3)
    assert resolve_precision(model, "int8") == "exact"  # counts have one precision
    stepper = start_stepper(model, vocab.encode("All:"), 2)
    stepper.step(torch.tensor(vocab.encode("\nS")))  # row 0 reads "\n", row 1 reads "S"
    stepper.select_rows([1, 1, 0])
    expected = [vocab.encode("l:S"), vocab.encode("l:S"), vocab.encode("l:\n")]
    for row, history in enumerate(expected):
        assert torch.allclose(stepper.logits[row], torch.from_numpy(np.log(model.probabilities(history))).float())
    with pytest.raises(ConfigError, match="no recurrent state"):
        stepper.state()
    with pytest.raises(ConfigError, match="no recurrent state"):
        step_network(model).resume(None)
