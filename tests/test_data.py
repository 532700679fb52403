"""Validation hold-out schemes: where validation text sits, and that training never reads it or its gap."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from chargen import ConfigError, CorpusError, load_model
from chargen.checkpoint import read_weights
from chargen.cli import main
from chargen.training.data import MAX_VAL_BLOCKS, MIN_VAL_BLOCK, Corpus, read_text
from chargen.training.train import STATE_NAME, TrainConfig, train
from tests.helpers import make_text


def random_text(n: int, seed: int = 0) -> str:
    """Random lowercase letters, spaces and newlines: any 16 consecutive characters occur once."""
    rng = random.Random(seed)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz \n") for _ in range(n))


def located_blocks(text: str, corpus: Corpus) -> list[tuple[int, int]]:
    """Where each validation row sits in ``text``, found by searching for it (independent of the split code)."""
    blocks = []
    for row in corpus.val:
        piece = corpus.vocab.decode(row.tolist())
        start = text.find(piece)
        assert start >= 0 and text.find(piece, start + 1) == -1, "a validation row is not one stretch of the text"
        blocks.append((start, start + len(piece)))
    return blocks


def legal_starts(n: int, window: int, blocks: list[tuple[int, int]], gap: int) -> set[int]:
    """Every window start whose window stays in the text and clear of each block and its gap."""
    forbidden = [(max(0, s - gap), min(n, e + gap)) for s, e in blocks]
    return {
        start for start in range(n - window + 1) if all(start + window <= lo or start >= hi for lo, hi in forbidden)
    }


def drawn_starts(corpus: Corpus, window: int, draws: int, seed: int = 0) -> torch.Tensor:
    """The start positions of ``draws`` training windows, read back by replacing each id with its position."""
    positions = Corpus(corpus.vocab, torch.arange(len(corpus.ids)), corpus.train_spans, corpus.val)
    generator = torch.Generator().manual_seed(seed)
    starts = []
    for _ in range(0, draws, 50_000):
        windows = positions.random_windows(50_000, window, generator)  # (50000, window)
        assert torch.equal(windows - windows[:, :1], torch.arange(window).expand_as(windows)), "not contiguous"
        starts.append(windows[:, 0])
    return torch.cat(starts)[:draws]


@pytest.mark.parametrize(
    ("scheme", "fraction", "gap"),
    [("blocks", 0.05, None), ("blocks", 0.2, 0), ("blocks", 0.2, 1), ("blocks", 0.1, 90), ("tail", 0.1, None)],
)
def test_training_windows_never_touch_validation_or_its_gap(scheme: str, fraction: float, gap: int | None) -> None:
    n, window = 12_000, 33
    text = random_text(n)
    corpus = Corpus.from_text(text, fraction, min_chars=window, scheme=scheme, gap=gap)
    expected_gap = (window if scheme == "blocks" else 0) if gap is None else gap
    blocks = located_blocks(text, corpus)
    allowed = legal_starts(n, window, blocks, expected_gap)
    starts = set(drawn_starts(corpus, window, draws=300_000).tolist())
    # No window reads validation text or its gap, and every start that does neither is drawn:
    # the gap is exactly what was asked, no training text is lost beyond it.
    assert starts <= allowed
    assert starts == allowed
    # The span arithmetic agrees: spans are sorted, disjoint, clear of every block and gap, each fits a window.
    spans = corpus.train_spans
    assert spans == sorted(spans) and all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    for start, end in spans:
        assert end - start >= window
        assert all(end <= max(0, s - expected_gap) or start >= e + expected_gap for s, e in blocks)
    assert corpus.train_chars == sum(e - s for s, e in spans)
    assert corpus.train_chars + corpus.val.numel() + 2 * expected_gap * len(blocks) >= n - window * (len(blocks) + 1)


def test_windows_are_drawn_uniformly_over_legal_starts() -> None:
    text = random_text(4000, seed=1)
    corpus = Corpus.from_text(text, 0.2, min_chars=17, scheme="blocks", gap=40)
    allowed = legal_starts(4000, 17, located_blocks(text, corpus), 40)
    draws = 200_000
    counts = torch.bincount(drawn_starts(corpus, 17, draws=draws), minlength=4000).double()[sorted(allowed)]
    # Pearson's chi-square over the legal starts: K - 1 degrees of freedom, sd sqrt(2 (K - 1)).
    expected = draws / len(allowed)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    k = len(allowed)
    assert counts.sum() == draws
    assert abs(chi2 - (k - 1)) < 5 * (2 * (k - 1)) ** 0.5


@pytest.mark.parametrize(("n", "fraction"), [(1_003_854, 0.05), (200_000, 0.05), (50_000, 0.1), (10_000, 0.05)])
def test_blocks_are_equal_spread_and_hold_the_fraction(n: int, fraction: float) -> None:
    text = random_text(n, seed=2)
    corpus = Corpus.from_text(text, fraction, min_chars=129)
    held = int(n * fraction)
    count = max(1, min(MAX_VAL_BLOCKS, held // MIN_VAL_BLOCK))
    assert corpus.val.shape == (count, held // count)  # equal blocks, all of the fraction but a remainder
    blocks = located_blocks(text, corpus)
    for i, (start, end) in enumerate(blocks):
        lo, hi = i * n / count, (i + 1) * n / count  # the i-th of `count` equal segments
        assert lo <= start and end <= hi
        assert abs((start + end) / 2 - (lo + hi) / 2) <= 1  # in its middle
    assert sorted(blocks) == blocks


def test_tail_scheme_holds_out_the_end_as_before() -> None:
    text = random_text(5000, seed=3)
    corpus = Corpus.from_text(text, 0.1, min_chars=25, scheme="tail")
    assert corpus.vocab.decode(corpus.val.flatten().tolist()) == text[-500:]
    assert corpus.train_spans == [(0, 4500)]
    # An explicit gap is left between the training text and the tail.
    gapped = Corpus.from_text(text, 0.1, min_chars=25, scheme="tail", gap=60)
    assert gapped.train_spans == [(0, 4440)] and torch.equal(gapped.val, corpus.val)


def test_tail_windows_are_the_ones_chargen_drew_before_schemes() -> None:
    # Resuming a run saved before --val-scheme must draw the same windows: the old sampler, kept here
    # as the oracle, drew starts uniformly over the training part with one randint call.
    text = random_text(6000, seed=4)
    corpus = Corpus.from_text(text, 0.1, min_chars=33, scheme="tail")
    train = corpus.ids[:5400]
    old_gen, new_gen = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(5):
        old_starts = torch.randint(0, len(train) - 33 + 1, (8,), generator=old_gen)
        old = train[old_starts[:, None] + torch.arange(33)]
        assert torch.equal(corpus.random_windows(8, 33, new_gen), old)


def test_nothing_held_out_trains_on_everything() -> None:
    text = random_text(3000, seed=5)
    for scheme in ("blocks", "tail"):
        corpus = Corpus.from_text(text, 0.0, min_chars=25, scheme=scheme)
        assert corpus.val.numel() == 0 and corpus.train_spans == [(0, 3000)]
        assert set(drawn_starts(corpus, 25, draws=50_000).tolist()) == set(range(3000 - 25 + 1))


@pytest.mark.parametrize(
    ("n", "settings", "fragments"),
    [
        (30, {"scheme": "blocks"}, ["too short to hold out validation text", "block(s) of 1", "--val-fraction 0"]),
        (30, {"scheme": "tail"}, ["too short to hold out validation text", "tail scheme"]),
        (400, {"scheme": "blocks"}, ["no stretch of 129", "--seq-len", "--val-gap"]),
        (5000, {"scheme": "blocks", "gap": 3000}, ["no stretch of 129", "3000 unused on each side"]),
        (100, {"scheme": "tail", "fraction": 0.0}, ["training needs a stretch of at least 129", "--seq-len"]),
    ],
)
def test_a_corpus_too_small_for_the_scheme_is_refused_clearly(n: int, settings: dict, fragments: list[str]) -> None:
    fraction = settings.pop("fraction", 0.05)
    with pytest.raises(CorpusError) as info:
        Corpus.from_text(random_text(n), fraction, min_chars=129, **settings)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scheme": "random"}, "validation scheme must be one of blocks, tail"),
        ({"val_fraction": 1.0}, "at least 0 and below 1"),
        ({"val_fraction": -0.1}, "at least 0 and below 1"),
        ({"gap": -1}, "validation gap must be 0 or more"),
    ],
)
def test_impossible_splits(settings: dict, message: str) -> None:
    fraction = settings.pop("val_fraction", 0.05)
    with pytest.raises(CorpusError, match=message):
        Corpus.from_text(random_text(5000), fraction, min_chars=25, **settings)


def test_a_10000_character_corpus_splits_with_the_training_defaults() -> None:
    # The app's Train tab accepts 10,000 characters: the default split must leave room for training.
    defaults = TrainConfig(corpus="x", out="y")
    text = random_text(10_000, seed=6)
    corpus = Corpus.from_text(
        text, defaults.val_fraction, min_chars=defaults.seq_len + 1, scheme=defaults.val_scheme, gap=defaults.val_gap
    )
    assert defaults.val_scheme == "blocks" and corpus.val.shape == (1, 500)
    assert located_blocks(text, corpus) == [(4750, 5250)]
    assert corpus.train_spans == [(0, 4750 - 129), (5250 + 129, 10_000)]


# Training runs with each scheme: small models, a few steps.

SMALL = {
    "cell": "lstm",
    "hidden_size": 24,
    "embedding_size": 8,
    "num_layers": 2,
    "batch_size": 8,
    "seq_len": 24,
    "eval_every": 5,
    "lr": 1e-2,
    "warmup_steps": 2,
}


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_nothing_held_out_keeps_the_last_step_and_logs_no_validation(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    result = train(
        TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=12, val_fraction=0, **SMALL), progress_bar=False
    )
    rows = _log(out)
    assert [r["step"] for r in rows] == [0, 5, 10, 12]
    assert all(r["val_loss"] is None for r in rows) and rows[-1]["train_loss"] is not None
    assert math.isnan(result.best_val_loss) and math.isnan(result.last_val_loss)
    # The checkpoint is the last step's model: the weights in the final training state.
    state = read_weights(out / STATE_NAME)
    for name, value in load_model(out).state_dict().items():
        assert torch.equal(value, state[f"model.{name}"]), name
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The CLI's summary stays JSON (null, not NaN).
    argv = ["train", str(corpus_file), "--out", str(tmp_path / "cli"), "--max-steps", "3", "--val-fraction", "0"]
    argv += ["--hidden", "16", "--embedding", "8", "--seq-len", "16", "--batch-size", "4", "--quiet"]
    assert main(argv) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "NaN" not in line
    summary = json.loads(line)
    assert summary["best_val_loss"] is None and summary["last_val_loss"] is None and summary["step"] == 3


def _drop_scheme_keys(out: Path) -> None:
    """Make a saved training state look like one written before --val-scheme and --val-gap existed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = out / STATE_NAME
    tensors = read_weights(path)
    with safe_open(str(path), framework="pt") as fh:
        meta = json.loads(fh.metadata()["chargen_train_state"])
    for key in ("val_scheme", "val_gap"):
        del meta["config"][key]
    save_file(tensors, str(path), metadata={"chargen_train_state": json.dumps(meta)})


@pytest.mark.slow
def test_a_state_saved_before_schemes_resumes_with_its_tail_split(corpus_file: Path, tmp_path: Path) -> None:
    from chargen.training.evaluate import nll_per_char
    from chargen.training.train import _load_state

    old = {**SMALL, "val_scheme": "tail", "val_fraction": 0.1}
    straight = tmp_path / "straight"
    done = train(TrainConfig(corpus=str(corpus_file), out=str(straight), max_steps=12, **old), progress_bar=False)
    # Old semantics, by the old formula: the last 10% scored as --eval-streams parallel streams.
    text = read_text(corpus_file)
    tail = torch.tensor(load_model(straight).vocab.encode(text[len(text) - int(len(text) * 0.1) :]))
    nats, _ = nll_per_char(load_model(straight), tail, streams=16)
    assert nats == pytest.approx(done.best_val_loss, abs=1e-5)

    halves = tmp_path / "halves"
    first = train(
        TrainConfig(corpus=str(corpus_file), out=str(halves), max_steps=12, **old),
        progress_bar=False,
        callbacks=[lambda p: p.step == 6],
    )
    assert first.stopped_early
    _drop_scheme_keys(halves)
    # Resumed with today's defaults on the command line (blocks, 5%): the saved split wins.
    second = train(TrainConfig(corpus=str(corpus_file), out=str(halves), max_steps=12), resume=True, progress_bar=False)
    assert second.step == 12
    meta, _ = _load_state(halves / STATE_NAME)
    assert (meta["config"]["val_scheme"], meta["config"]["val_fraction"]) == ("tail", 0.1)
    assert [r["val_loss"] for r in _log(halves)] == [r["val_loss"] for r in _log(straight)]
    a, b = read_weights(straight / STATE_NAME), read_weights(halves / STATE_NAME)
    for name in a:
        if name.startswith(("model.", "optim.")):
            assert torch.equal(a[name], b[name]), name


def test_saved_configs_without_the_new_keys_get_the_old_split() -> None:
    base = {"corpus": "c.txt", "out": "o", "cell": "gru", "not_a_setting_yet": 1}
    legacy = TrainConfig.from_dict(base)
    assert (legacy.val_scheme, legacy.val_fraction, legacy.val_gap) == ("tail", 0.1, None)
    assert TrainConfig.from_dict({**base, "val_fraction": 0.2}).val_fraction == 0.2
    current = TrainConfig.from_dict({**base, "val_scheme": "blocks", "val_fraction": 0.05, "val_gap": 9})
    assert (current.val_scheme, current.val_fraction, current.val_gap) == ("blocks", 0.05, 9)


@pytest.mark.parametrize(
    ("options", "spans"),
    [
        ({"val_scheme": "tail", "val_fraction": 0.2, "val_gap": 7}, lambda n: [(0, n - int(n * 0.2) - 7)]),
        ({"val_scheme": "tail", "val_fraction": 0.2}, lambda n: [(0, n - int(n * 0.2))]),
        ({"val_fraction": 0}, lambda n: [(0, n)]),
    ],
)
def test_each_validation_option_reaches_the_split(corpus_file: Path, tmp_path: Path, options: dict, spans) -> None:
    from chargen.training.train import prepare

    n = len(read_text(corpus_file))
    _, corpus, *_ = prepare(TrainConfig(corpus=str(corpus_file), out=str(tmp_path / "r"), **SMALL, **options), False)
    assert corpus.train_spans == spans(n)


def test_the_val_gap_option_reaches_the_blocks(corpus_file: Path, tmp_path: Path) -> None:
    from chargen.training.train import prepare

    text = read_text(corpus_file)
    for gap, expected in ((None, SMALL["seq_len"] + 1), (0, 0), (300, 300)):
        config = TrainConfig(corpus=str(corpus_file), out=str(tmp_path / "r"), val_gap=gap, **SMALL)
        _, corpus, *_ = prepare(config, False)
        (start, end), *_ = located_blocks(text, corpus)
        assert corpus.train_spans == [(0, start - expected), (end + expected, len(text))]


def test_cli_validation_options_parse() -> None:
    from chargen.cli import build_parser

    args = build_parser().parse_args(
        ["train", "c.txt", "--out", "o", "--val-scheme", "tail", "--val-gap", "7", "--val-fraction", "0"]
    )
    assert (args.val_scheme, args.val_gap, args.val_fraction) == ("tail", 7, 0.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"val_scheme": "middle"}, "val-scheme must be one of blocks, tail"),
        ({"val_gap": -1}, "val-gap must be a non-negative integer"),
        ({"val_gap": True}, "val-gap must be a non-negative integer"),
        ({"val_gap": 2.5}, "val-gap must be a non-negative integer"),
        ({"val_fraction": 1.0}, "val-fraction must be at least 0 and below 1"),
        ({"val_fraction": -0.01}, "val-fraction must be at least 0 and below 1"),
    ],
)
def test_impossible_validation_options(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(corpus="x", out="y", **changes)


@pytest.mark.slow
def test_a_10000_character_corpus_trains_with_the_default_split_and_windows(tmp_path: Path) -> None:
    # Every default that decides what is held out and what a window is (--seq-len, --batch-size,
    # --val-*); only the model is small, to keep the test fast.
    corpus = tmp_path / "small.txt"
    corpus.write_text(make_text(words=3000)[:10_000], encoding="utf-8")
    out = tmp_path / "run"
    config = TrainConfig(corpus=str(corpus), out=str(out), max_steps=2, hidden_size=32, embedding_size=8)
    result = train(config, progress_bar=False)
    assert result.step == 2 and math.isfinite(result.best_val_loss)
    assert [r["step"] for r in _log(out)] == [0, 2]
