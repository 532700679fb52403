"""Word-level models (issue 17) end to end: tokens, vocabulary, chunked encoding, training, resume,
eval, generation (library, batching engine, CLI), the Hub, and the character models' config layout.

The oracles are written here, apart from chargen's own code: a character-class scanner for the
tokens, counts of that scanner's tokens for the vocabulary, and the model's own ``forward`` run
token by token for losses and greedy / penalised texts.
"""

from __future__ import annotations

import json
import math
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargen import load_model
from chargen.checkpoint import CONFIG_DIGEST_KEY, read_weights_and_metadata, save_checkpoint
from chargen.cli import main
from chargen.errors import ConfigError, CorpusError, UnknownCharactersError
from chargen.inference.decoding import REPETITION_WINDOW
from chargen.inference.generate import compare, generate, reference_model, stream_compare
from chargen.model import CharRNN
from chargen.training.corpus_file import cached_encoding, encode_file, scan_vocab, token_chunks
from chargen.training.data import Corpus, read_text
from chargen.training.evaluate import score_text
from chargen.training.train import STATE_NAME, TrainConfig, train
from chargen.vocab import Vocab, split_tokens
from tests.helpers import make_text, pieces_of, tiny_model, tiny_word_model

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# -- the oracle tokenizer ----------------------------------------------------------------------


def char_class(ch: str) -> str:
    """What the issue says a character is: part of a word (a Unicode letter or number, or an
    apostrophe), whitespace, or anything else (a token on its own)."""
    if unicodedata.category(ch)[0] in "LN" or ch in "'\u2019":
        return "word"
    if ch.isspace():
        return "space"
    return "other"


def scan_tokens(text: str) -> list[str]:
    """The issue's tokens by a plain scan: maximal runs of word characters, maximal runs of
    whitespace, and every other character alone."""
    tokens: list[str] = []
    last = None
    for ch in text:
        kind = char_class(ch)
        if tokens and kind == last and kind != "other":
            tokens[-1] += ch
        else:
            tokens.append(ch)
        last = kind
    return tokens


def oracle_ids(vocab: Vocab, text: str) -> list[int]:
    """The ids the issue defines: a token in the vocabulary is its id, any other is spelled out."""
    index = {token: i for i, token in enumerate(vocab.tokens)}
    ids: list[int] = []
    for token in scan_tokens(text):
        ids.extend([index[token]] if token in index else [index[ch] for ch in token])
    return ids


def oracle_word_vocab(text: str, size: int) -> list[str]:
    """Every character (code point order), then the commonest multi-character tokens (ties by code point)."""
    counts = Counter(scan_tokens(text))
    singles = sorted(set(text))
    multi = sorted((t for t in counts if len(t) > 1), key=lambda t: (-counts[t], t))
    return singles + multi[: size - len(singles)]


# Text that mixes ASCII, accented and CJK letters, digits, both apostrophes, every kind of
# whitespace run and punctuation, so words, runs and single characters all occur.
MIXED = (
    "Don't stop, naïve café-goer!  The 2 cats\u2019 hats; 日本語 text\t\tand\n\nmore über words 42x.\r\n"
    "«quoted» under_score  don't don't cats cats cats\n"
)


# -- tokens: property tests ---------------------------------------------------------------------

ALPHABETS = st.sampled_from(
    [
        "ab c\n'",
        "the cat sat.\n",
        MIXED,
        "é日'\u2019 \t\n_-½Ⅷ٣",  # letters, numbers of every kind, both apostrophes, underscore
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_split_tokens_is_the_issues_tokens_and_joins_back_for_any_text(text: str) -> None:
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    assert tokens == scan_tokens(text)


def test_every_code_point_is_classed_as_the_issue_says() -> None:
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)  # surrogates aside
    assert split_tokens(everything) == scan_tokens(everything)
    assert scan_tokens("Don't\u2019s  x²Ⅷ_é\u0301\u00a0\u2028!") == [
        "Don't\u2019s",
        "  ",
        "x²Ⅷ",
        "_",
        "é",
        "\u0301",
        "\u00a0\u2028",
        "!",
    ]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_encode_then_decode_gives_back_any_text_of_the_corpus_characters(data) -> None:
    corpus = data.draw(st.text(min_size=1, max_size=300)) + " ab ab"  # at least one word
    chars = sorted(set(corpus))
    size = data.draw(st.integers(len(chars), len(chars) + 20))
    vocab = Vocab.from_text(corpus, "word", size)
    assert list(vocab.tokens) == oracle_word_vocab(corpus, size)
    # Texts of the corpus's characters, and texts glued from its tokens (words that touch make a
    # new word, which is not in the vocabulary and must be spelled out).
    text = data.draw(
        st.one_of(
            st.text(alphabet=st.sampled_from(chars)),
            st.lists(st.sampled_from(vocab.tokens)).map("".join),
        )
    )
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text
    assert ids == oracle_ids(vocab, text)
    model_vocab = CharRNN_word(vocab).vocab  # as a model holds it, rebuilt from config.json's list
    assert model_vocab.decode(model_vocab.encode(text)) == text


def CharRNN_word(vocab: Vocab) -> CharRNN:  # noqa: N802 (a model factory named for what it builds)
    from chargen.model import ModelConfig

    config = ModelConfig(vocab=vocab.to_list(), unit="word", cell="gru", embedding_size=2, hidden_size=2, num_layers=1)
    return CharRNN(ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ALPHABETS.flatmap(lambda a: st.text(alphabet=st.sampled_from(a), max_size=400)), st.integers(1, 9))
def test_chunked_tokens_and_ids_equal_the_in_memory_ones(text: str, chunk_bytes: int) -> None:
    text = "word " + text  # a corpus needs a word
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.txt"
        path.write_bytes(text.encode("utf-8"))
        assert [t for chunk in token_chunks(path, chunk_bytes) for t in chunk] == scan_tokens(text)
        size = len(set(text)) + 5
        vocab, chars = scan_vocab(path, chunk_bytes, "word", size)
        assert chars == len(text)
        assert vocab == Vocab.from_text(text, "word", size) and vocab.unit == "word"
        encoded = encode_file(path, vocab, Path(folder) / "ids.bin", chunk_bytes)
        assert encoded.open()[: encoded.chars].tolist() == vocab.encode(text) == oracle_ids(vocab, text)


# -- vocabulary ----------------------------------------------------------------------------------


def test_word_vocabulary_is_every_character_then_the_commonest_tokens() -> None:
    text = "bb aa bb aa cc a\n"  # "bb" and "aa" tie (2 each): code point order puts "aa" first
    assert Vocab.from_text(text, "word", 6).tokens == ("\n", " ", "a", "b", "c", "aa")
    assert Vocab.from_text(text, "word", 7).tokens == ("\n", " ", "a", "b", "c", "aa", "bb")
    assert Vocab.from_text(text, "word", 100).tokens == ("\n", " ", "a", "b", "c", "aa", "bb", "cc")
    corpus = make_text(words=3000)
    counts = Counter(t for t in scan_tokens(corpus) if len(t) > 1)
    vocab = Vocab.from_text(corpus, "word", 40)
    assert set(vocab.chars) == set(corpus) and len(vocab) == 40
    words = vocab.tokens[len(vocab.chars) :]
    assert [counts[w] for w in words] == sorted(counts.values(), reverse=True)[: len(words)]
    assert min(counts[w] for w in words) >= max(c for t, c in counts.items() if t not in words)
    assert Vocab.from_text(corpus[::-1][::-1], "word", 40) == vocab  # deterministic


def test_vocabulary_errors_are_clear() -> None:
    text = "abc abc\n"
    with pytest.raises(ConfigError, match="vocab-size must be at least the corpus's 5 distinct characters.*got 4"):
        Vocab.from_text(text, "word", 4)
    with pytest.raises(CorpusError, match="no words"):
        Vocab.from_text("... !!! ?\n", "word", 50)
    with pytest.raises(ConfigError, match="unit must be one of char, word, got 'token'"):
        Vocab.from_text(text, "token")
    with pytest.raises(ConfigError, match="vocab-size applies to --unit word only"):
        Vocab.from_text(text, "char", 50)
    for bad in ({"unit": "token"}, {"unit": "char", "vocab_size": 50}, {"unit": "word", "vocab_size": 0}):
        with pytest.raises(ConfigError, match="unit must be one of|vocab-size"):
            TrainConfig(corpus="c.txt", out="o", **bad)


@pytest.mark.parametrize(
    ("options", "content", "fragment"),
    [
        (["--unit", "token"], None, "unit must be one of char, word, got 'token'"),
        (["--unit", "char", "--vocab-size", "50"], None, "vocab-size applies to --unit word only"),
        (["--vocab-size", "50"], None, "vocab-size applies to --unit word only"),
        (["--unit", "word", "--vocab-size", "3"], None, "vocab-size must be at least the corpus's"),
        (["--unit", "word"], "... !!! ?\n-- ;;\n", "no words"),
    ],
)
def test_train_cli_refuses_bad_units_and_sizes_in_one_line(tmp_path, capsys, options, content, fragment) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(content or make_text(words=300), encoding="utf-8")
    code = main(["train", str(corpus), "--out", str(tmp_path / "run"), "--max-steps", "1", "--quiet", *options])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and fragment in err and err.count("\n") == 1, err
    assert not (tmp_path / "run" / STATE_NAME).exists()


# -- chunked encoding and its cache ---------------------------------------------------------------


def test_chunked_encoding_cuts_words_and_multibyte_characters_and_matches_memory(tmp_path: Path) -> None:
    text = MIXED * 7 + "é" * 3000 + " \n" * 500 + "end"  # runs over many chunks
    path = tmp_path / "corpus.txt"
    path.write_bytes(text.encode("utf-8"))  # \r\n as written
    want = Vocab.from_text(text, "word", 60)
    for chunk_bytes in (1, 2, 3, 5, 7, 64):
        assert [t for chunk in token_chunks(path, chunk_bytes) for t in chunk] == split_tokens(text)
        vocab, chars = scan_vocab(path, chunk_bytes, "word", 60)
        assert vocab == want and chars == len(text)
        encoded = encode_file(path, vocab, tmp_path / f"ids-{chunk_bytes}.bin", chunk_bytes)
        assert encoded.open()[: encoded.chars].tolist() == oracle_ids(want, text)


def test_char_and_word_runs_of_one_file_have_their_own_cache_entries(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text(make_text(words=500), encoding="utf-8")
    text = read_text(path)
    cache = tmp_path / "cache"
    chars = cached_encoding(path, cache)
    words = cached_encoding(path, cache, unit="word", vocab_size=30)
    assert chars.path != words.path and chars.path.exists() and words.path.exists()
    assert chars.vocab == Vocab.from_text(text) and chars.vocab.unit == "char"
    assert chars.open()[: chars.chars].tolist() == Vocab.from_text(text).encode(text)
    assert words.vocab == Vocab.from_text(text, "word", 30) and words.vocab.unit == "word"
    assert words.open()[: words.chars].tolist() == oracle_ids(words.vocab, text)
    # Another vocabulary size is another entry (it replaces the word entry, never the character one).
    bigger = cached_encoding(path, cache, unit="word", vocab_size=35)
    assert bigger.path not in (chars.path, words.path) and chars.path.exists() and len(bigger.vocab) == 35
    # Asked again, each is read back from its own entry, nothing rewritten.
    stamps = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    again = cached_encoding(path, cache, unit="word", vocab_size=35)
    assert again.path == bigger.path and again.vocab == bigger.vocab
    assert cached_encoding(path, cache).vocab == chars.vocab
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps


# -- training and resume ---------------------------------------------------------------------------

TINY = {
    "cell": "lstm",
    "hidden_size": 24,
    "embedding_size": 8,
    "num_layers": 1,
    "batch_size": 8,
    "seq_len": 16,
    "eval_every": 5,
    "dropout": 0.0,
    "lr": 1e-2,
    "warmup_steps": 2,
}
TINY_FLAGS = [
    "--cell", "lstm", "--hidden", "24", "--embedding", "8", "--layers", "1", "--batch-size", "8",
    "--seq-len", "16", "--eval-every", "5", "--dropout", "0", "--lr", "0.01", "--warmup-steps", "2",
]  # fmt: skip


def token_nll(model: CharRNN, ids: list[int]) -> tuple[float, int, int]:
    """Oracle: the total -log p of each id after the first, by the model's own forward over the ids
    (float64 softmax); how many ids that scored; the characters they write."""
    with torch.inference_mode():
        logits, _ = model(torch.tensor([ids[:-1]]))  # (1, T, V)
        log_probs = torch.log_softmax(logits[0].double(), dim=1)[range(len(ids) - 1), ids[1:]]
    return -log_probs.sum().item(), len(ids) - 1, sum(len(model.vocab.tokens[i]) for i in ids[1:])


def test_train_cli_word_run_writes_a_word_checkpoint_and_logs_nats_per_char(
    corpus_file: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    code = main(
        ["train", str(corpus_file), "--out", str(out), "--unit", "word", "--vocab-size", "40", "--quiet"]
        + ["--max-steps", "10", *TINY_FLAGS]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["step"] == 10
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["unit"] == "word" and config["format_version"] == 3
    text = read_text(corpus_file)
    assert config["vocab"] == oracle_word_vocab(text, 40)
    model = load_model(out)
    assert model.unit == "word" and model.vocab.unit == "word" and model.vocab.tokens == tuple(config["vocab"])

    # Log rows: val_nats_per_char is the validation loss per character, checked on the best
    # checkpoint against the model's own forward over the held-out rows.
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 5, 10]
    corpus = Corpus.from_text(text, 0.05, min_chars=TINY["seq_len"] + 1, unit="word", vocab_size=40)
    total = count = chars = 0
    for row in corpus.val.tolist():
        t, c, n = token_nll(model, row)
        total, count, chars = total + t, count + c, chars + n
    best = min(rows, key=lambda r: r["val_loss"])
    assert best["val_loss"] == pytest.approx(total / count, rel=1e-4)
    assert best["val_nats_per_char"] == pytest.approx(total / chars, rel=1e-4)
    for r in rows:  # every row: per char = per token / characters per scored token
        assert r["val_nats_per_char"] == pytest.approx(r["val_loss"] * count / chars, rel=1e-6)
    assert summary["best_val_nats_per_char"] == pytest.approx(total / chars, abs=1e-4)
    assert summary["last_val_nats_per_char"] == pytest.approx(rows[-1]["val_nats_per_char"], abs=1e-4)


def test_word_validation_scores_at_most_eval_chars_characters_per_char_and_per_token(
    corpus_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    config = TrainConfig(
        corpus=str(corpus_file), out=str(out), max_steps=5, unit="word", vocab_size=40, eval_chars=200, **TINY
    )
    result = train(config, progress_bar=False)
    model = load_model(out)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    best = min(rows, key=lambda r: r["val_loss"])
    # Oracle: each held-out block's per-token losses by the model's own forward; the rows scored are
    # the blocks' first L tokens for the one L whose mean loss is the logged one.
    corpus = Corpus.from_text(read_text(corpus_file), 0.05, min_chars=TINY["seq_len"] + 1, unit="word", vocab_size=40)
    losses, lengths = [], []
    with torch.inference_mode():
        for row in corpus.val.tolist():
            logits, _ = model(torch.tensor([row[:-1]]))
            losses.append((-torch.log_softmax(logits[0].double(), dim=1)[range(len(row) - 1), row[1:]]).tolist())
            lengths.append([len(model.vocab.tokens[i]) for i in row])
    matches = []
    for width in range(2, corpus.val.shape[1] + 1):
        total = sum(sum(row[: width - 1]) for row in losses)
        count = len(losses) * (width - 1)
        if total / count == pytest.approx(best["val_loss"], rel=1e-6):
            matches.append((width, total, count, sum(sum(row[1:width]) for row in lengths)))
    assert len(matches) == 1
    width, total, count, chars = matches[0]
    assert sum(sum(row[:width]) for row in lengths) <= config.eval_chars < sum(sum(row) for row in lengths)  # cut
    assert best["val_nats_per_char"] == pytest.approx(total / chars, rel=1e-5)
    assert result.chars_per_token == pytest.approx(chars / count)


def test_a_tail_validated_word_run_logs_nats_per_char_of_its_streams(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    settings = {**TINY, "unit": "word", "vocab_size": 40, "val_scheme": "tail", "eval_streams": 3}
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=5, **settings), progress_bar=False)
    model = load_model(out)
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    best = min(rows, key=lambda r: r["val_loss"])
    corpus = Corpus.from_text(
        read_text(corpus_file), 0.05, min_chars=TINY["seq_len"] + 1, scheme="tail", unit="word", vocab_size=40
    )
    tail = corpus.val.flatten().tolist()  # the end of the corpus, scored as 3 equal streams side by side
    width = len(tail) // 3
    parts = [token_nll(model, tail[i * width : (i + 1) * width]) for i in range(3)]
    total, count, chars = (sum(part[k] for part in parts) for k in range(3))
    assert best["val_loss"] == pytest.approx(total / count, rel=1e-5)
    assert best["val_nats_per_char"] == pytest.approx(total / chars, rel=1e-5)


def test_a_word_runs_speed_counts_the_characters_of_its_windows(corpus_file: Path, tmp_path: Path, monkeypatch) -> None:
    import types

    import chargen.training.train as train_module

    # A clock that moves one second per reading: each step (read at its start and its end) takes 1 s,
    # so its characters per second are the characters of the windows it trained on.
    ticks = iter(range(10**6))
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(perf_counter=lambda: float(next(ticks))))
    windows: list[torch.Tensor] = []
    draw = Corpus.random_windows

    def recorded(self, *args, **kwargs):
        windows.append(draw(self, *args, **kwargs))
        return windows[-1]

    monkeypatch.setattr(Corpus, "random_windows", recorded)
    reports = []
    config = TrainConfig(
        corpus=str(corpus_file), out=str(tmp_path / "run"), max_steps=4, unit="word", vocab_size=40, **TINY
    )
    train(config, progress_bar=False, callbacks=[reports.append])
    vocab = Vocab.from_text(read_text(corpus_file), "word", 40)
    want = [sum(len(vocab.tokens[i]) for i in batch[:, :-1].flatten().tolist()) for batch in windows]
    assert [r.chars_per_second for r in reports] == want
    assert min(want) > TINY["batch_size"] * TINY["seq_len"]  # more characters than ids: words were read


def test_a_word_run_resumed_without_unit_stays_a_word_run(corpus_file: Path, tmp_path: Path, capsys) -> None:
    # (That a resumed word run continues exactly as if it never stopped: tests/test_train.py.)
    out = tmp_path / "run"
    flags = ["--out", str(out), "--quiet", *TINY_FLAGS]
    assert main(["train", str(corpus_file), *flags, "--unit", "word", "--vocab-size", "40", "--max-steps", "3"]) == 0
    saved = json.loads((out / "config.json").read_text())
    # The CLI builds its TrainConfig without a unit (the default, char): the saved unit and vocabulary hold.
    assert main(["train", str(corpus_file), *flags, "--resume", "--max-steps", "6"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 6 and "best_val_nats_per_char" in summary
    assert json.loads((out / "config.json").read_text()) == saved and saved["unit"] == "word"
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 3, 5, 6] and all("val_nats_per_char" in r for r in rows)


def test_resuming_a_word_run_on_a_corpus_with_other_common_words_is_refused(corpus_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    word = {**TINY, "unit": "word", "vocab_size": 40}
    train(TrainConfig(corpus=str(corpus_file), out=str(out), max_steps=2, **word), progress_bar=False)
    text = read_text(corpus_file)
    changed = tmp_path / "changed.txt"
    changed.write_text(
        text + "with with with with with with with with with with with with with\n" * 40, encoding="utf-8"
    )
    assert set(read_text(changed)) == set(text)  # the same characters, other common words
    with pytest.raises(ConfigError, match="its words or characters differ from the run being resumed"):
        train(TrainConfig(corpus=str(changed), out=str(out), max_steps=4), resume=True, progress_bar=False)


# -- eval ------------------------------------------------------------------------------------------


@pytest.fixture
def torch_threads():
    """``chargen eval`` / ``generate`` set one torch thread in-process; put it back afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def word_model() -> CharRNN:
    return tiny_word_model("lstm", vocab_size=40, hidden=24, layers=2, scale=3.0)


@pytest.fixture
def word_checkpoint(word_model: CharRNN, tmp_path: Path) -> Path:
    return save_checkpoint(word_model, tmp_path / "word")


def test_eval_cli_reports_nats_per_char_and_per_token_of_a_word_model(
    word_model, word_checkpoint, tmp_path, capsys, torch_threads
) -> None:
    known = set(word_model.vocab.chars)
    text = "".join(ch for ch in make_text(seed=5, words=120) if ch in known) + "The catdog sat on hats.\n"
    assert "catdog" not in word_model.vocab  # spelled out in characters
    path = tmp_path / "held-out.txt"
    path.write_text(text, encoding="utf-8")
    assert main(["eval", str(word_checkpoint), str(path)]) == 0
    figures = json.loads(capsys.readouterr().out)
    ids = oracle_ids(word_model.vocab, text)
    start = oracle_ids(word_model.vocab, "\n")  # every token is scored, from a line break as generation starts
    total, tokens, chars = token_nll(word_model, start + ids)
    assert figures["unit"] == "word"
    assert figures["tokens"] == tokens == len(ids) and figures["chars"] == chars == len(text)
    assert figures["nats_per_token"] == pytest.approx(total / tokens, abs=2e-6)
    assert figures["nats_per_char"] == pytest.approx(total / chars, abs=2e-6)
    assert figures["bits_per_char"] == pytest.approx(total / chars / math.log(2), abs=2e-6)
    # --streams: the same figures per stream row (each row starts afresh from a line break).
    assert main(["eval", str(word_checkpoint), str(path), "--streams", "3"]) == 0
    figures = json.loads(capsys.readouterr().out)
    width = -(-len(ids) // 3)
    parts = [token_nll(word_model, start + ids[i * width : (i + 1) * width]) for i in range(3)]
    total, tokens, chars = (sum(p[k] for p in parts) for k in range(3))
    assert (figures["tokens"], figures["chars"]) == (tokens, chars)
    assert figures["nats_per_char"] == pytest.approx(total / chars, abs=2e-6)


def test_eval_strict_refuses_characters_the_word_model_never_saw_naming_them(
    word_checkpoint, word_model, tmp_path, capsys, torch_threads
) -> None:
    path = tmp_path / "new.txt"
    path.write_text("the Zebra sat on é mat\n", encoding="utf-8")
    assert main(["eval", str(word_checkpoint), str(path), "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "'Z'" in err and "'é'" in err and err.count("\n") == 1
    with pytest.raises(UnknownCharactersError) as info:
        score_text(word_model, "the Zebra sat on é mat\n", strict=True)
    assert info.value.unknown == ["Z", "é"]
    # without --strict they are left out and counted, as generation leaves them out of a prompt
    assert score_text(word_model, "the Zebra sat on é mat\n")["dropped"] == {"Z": 1, "é": 1}
    path.write_text("ZZé", encoding="utf-8")
    assert main(["eval", str(word_checkpoint), str(path)]) == 2
    assert "nothing to score: no tokens the model knows" in capsys.readouterr().err


# -- generation ------------------------------------------------------------------------------------


def token_argmax_loop(model: CharRNN, prompt: str, length: int) -> tuple[str, list[int]]:
    """The greedy loop over tokens with the model's own forward at batch 1, until ``length``
    characters are written; the text cut to ``length`` and the characters of each step kept."""
    ids = oracle_ids(model.vocab, prompt or "\n")  # an empty prompt starts from a line break
    text, steps = "", []
    with torch.inference_mode():
        logits, state = model(torch.tensor([ids]), None)
        while len(text) < length:
            token = model.vocab.tokens[int(logits[0, -1].argmax())]
            steps.append(min(len(token), length - len(text)))
            text += token
            logits, state = model(torch.tensor([[model.vocab.tokens.index(token)]]), state)
    return text[:length], steps


def penalised_argmax_loop(model: CharRNN, prompt: str, length: int, penalty: float) -> str:
    """Oracle for top-k 1 with a repetition penalty: each step the argmax of the logits after the
    CTRL penalty over the last REPETITION_WINDOW ids (prompt included)."""
    history = oracle_ids(model.vocab, prompt or "\n")
    text = ""
    with torch.inference_mode():
        logits, state = model(torch.tensor([history]), None)
        while len(text) < length:
            scores = logits[0, -1].clone()
            for i in set(history[-REPETITION_WINDOW:]):
                scores[i] = scores[i] / penalty if scores[i] > 0 else scores[i] * penalty
            chosen = int(scores.argmax())
            history.append(chosen)
            text += model.vocab.tokens[chosen]
            logits, state = model(torch.tensor([[chosen]]), state)
    return text[:length]


PROMPTS = ["The cat", "", "sat on a mat and\n", "dogs ran to"]


@pytest.mark.parametrize("precision", ["exact", "fp32", "fp16"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_word_greedy_equals_a_token_argmax_loop_and_lengths_are_characters(cell: str, precision: str) -> None:
    model = tiny_word_model(cell, vocab_size=40, hidden=24, scale=3.0, seed=1)
    for prompt, length in zip(PROMPTS, [1, 7, 60, 333], strict=True):
        result = compare(model, prompt, length, temperature=1.0, seed=3, precision=precision)
        want, want_steps = token_argmax_loop(reference_model(model, precision), prompt, length)
        assert result.greedy == want and result.greedy_steps == want_steps, (prompt, length)
        assert len(result.greedy) == len(result.sampled) == length
        assert sum(result.greedy_steps) == sum(result.sampled_steps) == length
        assert all(n >= 1 for n in result.greedy_steps + result.sampled_steps)
        assert len(result.sampled_probs) == len(result.sampled_steps)
        assert result.done and result.to_dict()["sampled_steps"] == result.sampled_steps


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompt=st.text(alphabet=st.sampled_from("the cat sat\nZé."), max_size=30),
    length=st.integers(1, 150),
    temperature=st.sampled_from([0.0, 0.4, 1.0, 2.5]),
    seed=st.integers(0, 2**40),
    chunk_size=st.integers(1, 40),
)
def test_any_word_generation_is_length_characters_and_streams_to_compare(
    word_model, prompt, length, temperature, seed, chunk_size
) -> None:
    result = compare(word_model, prompt, length, temperature=temperature, seed=seed, precision="exact")
    assert len(result.greedy) == len(result.sampled) == length
    assert sum(result.greedy_steps) == sum(result.sampled_steps) == length
    assert result.greedy == token_argmax_loop(word_model, result.prompt_used, length)[0]
    streamed = list(
        stream_compare(
            word_model, prompt, length, temperature=temperature, seed=seed, precision="exact", chunk_size=chunk_size
        )
    )
    assert streamed[-1] == result and all(not r.done for r in streamed[:-1])
    if temperature == 0.0:
        assert result.sampled == result.greedy and result.sampled_probs == [1.0] * len(result.sampled_steps)


def test_word_texts_are_made_of_whole_tokens_but_the_last() -> None:
    word_model = tiny_word_model("gru", vocab_size=40, seed=3)
    result = compare(word_model, "the", 200, temperature=1.2, seed=9, precision="exact")
    for text, steps in ((result.greedy, result.greedy_steps), (result.sampled, result.sampled_steps)):
        pieces = pieces_of(text, steps)
        assert all(piece in word_model.vocab for piece in pieces[:-1])
        assert any(len(piece) > 1 for piece in pieces)  # words, not characters, were written


def test_sampled_probs_are_the_models_own_per_token(word_model: CharRNN) -> None:
    result = compare(word_model, "a dog", 150, temperature=0.7, seed=4, precision="exact")
    vocab = word_model.vocab
    # The sampled tokens, from the text and the steps (the last may be cut: left out).
    ids = [vocab.tokens.index(piece) for piece in pieces_of(result.sampled, result.sampled_steps)[:-1]]
    assert len(result.sampled_probs) == len(ids) + 1
    with torch.inference_mode():
        logits, state = word_model(torch.tensor([oracle_ids(vocab, "a dog")]), None)
        for token_id, prob in zip(ids, result.sampled_probs, strict=False):
            want = torch.softmax(logits[0, -1] / 0.7, dim=0)
            assert prob == pytest.approx(want[token_id].item(), rel=1e-4)
            logits, state = word_model(torch.tensor([[token_id]]), state)


def test_stream_and_generate_equal_compare_for_a_word_model(word_model: CharRNN) -> None:
    for chunk in (1, 3, 1000):
        results = list(stream_compare(word_model, "the cat", 120, temperature=0.9, seed=5, chunk_size=chunk))
        want = compare(word_model, "the cat", 120, temperature=0.9, seed=5)
        assert results[-1] == want and [r.done for r in results].count(True) == 1
        for before, after in zip(results, results[1:], strict=False):  # each result extends the last
            assert after.greedy.startswith(before.greedy) and after.sampled.startswith(before.sampled)
            assert sum(after.sampled_steps) == len(after.sampled) and sum(after.greedy_steps) == len(after.greedy)
    streamed = list(stream_compare(word_model, "the cat", 120, temperature=0.9, seed=5, chunk_size=1))
    assert len(streamed) == max(len(want.greedy_steps), len(want.sampled_steps))  # one result per step
    one = generate(word_model, "the cat", 120, temperature=0.9, seed=5)
    assert (one.text, one.probs, one.steps) == (want.sampled, want.sampled_probs, want.sampled_steps)


def test_top_k_top_p_and_repetition_penalty_on_a_word_model(word_model: CharRNN) -> None:
    model = word_model
    greedy = compare(model, "the", 150, temperature=0.0, precision="exact").greedy
    assert compare(model, "the", 150, temperature=1.5, top_k=1, seed=2, precision="exact").sampled == greedy
    assert compare(model, "the", 150, temperature=1.5, top_p=1e-6, seed=2, precision="exact").sampled == greedy
    penalised = compare(model, "the", 150, temperature=1.0, top_k=1, repetition_penalty=3.0, seed=2, precision="exact")
    assert penalised.sampled == penalised_argmax_loop(model, "the", 150, 3.0) != greedy
    # top-k 3: each sampled token ranks in the top 3 of the model's distribution at its step.
    result = compare(model, "the", 150, temperature=2.0, top_k=3, seed=7, precision="exact")
    with torch.inference_mode():
        logits, state = model(torch.tensor([oracle_ids(model.vocab, "the")]), None)
        for piece in pieces_of(result.sampled, result.sampled_steps)[:-1]:
            token_id = model.vocab.tokens.index(piece)
            assert token_id in logits[0, -1].topk(3).indices.tolist()
            logits, state = model(torch.tensor([[token_id]]), state)


def test_unknown_prompt_characters_are_dropped_and_reported(word_model: CharRNN) -> None:
    result = compare(word_model, "the Zcaét", 30, temperature=0.5, seed=1, precision="exact")
    assert result.dropped == ["Z", "é"] and result.prompt_used == "the cat"
    assert result.greedy == token_argmax_loop(word_model, "the cat", 30)[0]
    assert compare(word_model, "ZZZ", 10, seed=1).prompt_used == "\n"  # nothing known: a line break


def test_a_long_prompt_feeds_its_last_whole_tokens_within_max_prompt_chars(word_model: CharRNN) -> None:
    from chargen.inference.generate import MAX_PROMPT_CHARS, prepare_prompt

    prompt = "d" + "the cat sat on a mat " * 400  # 8,401 characters, ~3,200 tokens
    prepared = prepare_prompt(word_model, prompt)
    longest = max(len(t) for t in word_model.vocab.tokens)
    assert MAX_PROMPT_CHARS - longest < len(prepared.text) <= MAX_PROMPT_CHARS
    assert prompt.endswith(prepared.text)
    assert prepared.ids == oracle_ids(word_model.vocab, prompt)[-len(prepared.ids) :]


@pytest.mark.parametrize("precision", ["int8", "exact"])
def test_the_batching_engine_gives_compares_texts_for_word_models(precision: str) -> None:
    from chargen.inference.batching import BatchingEngine

    model = tiny_word_model("gru", vocab_size=40, hidden=32, seed=2)
    requests = [
        dict(prompt="the cat", length=90, temperature=0.8, seed=1),
        dict(prompt="", length=17, temperature=0.0, seed=2),
        dict(prompt="a mat", length=45, temperature=1.3, seed=3, top_k=3),
        dict(prompt="sun\n", length=1, temperature=0.7, seed=4, top_p=0.8),
        dict(prompt="red hat", length=60, temperature=1.0, seed=5, repetition_penalty=1.3),
        dict(prompt="Zé big", length=33, temperature=0.5, seed=6),
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    engine = BatchingEngine(model, precision=precision)
    try:
        jobs = []
        for i, request in enumerate(requests):
            jobs.append(engine.submit(**request))
            if i >= 1:
                assert jobs[0].wait(timeout=60, made=3 * i) or jobs[0].done
        for request, job in zip(requests, jobs, strict=True):
            assert job.wait(timeout=60)
            got, want = job.snapshot(), compare(model, precision=precision, **request)
            assert got == want, request
            assert len(got.greedy) == len(got.sampled) == request["length"]
    finally:
        engine.close()
        torch.set_num_threads(threads)


# -- the generate CLI on a word model ---------------------------------------------------------------


def sections(out: str) -> dict[str, str]:
    """The CLI's labelled sections: header line -> the text under it (its final newline removed)."""
    parts: dict[str, str] = {}
    name = None
    for line in out.splitlines(keepends=True):
        if line.startswith("=== "):
            name = line.split("(")[0].strip("= \n")
            parts[name] = ""
        elif name is not None:
            parts[name] += line
    return {k: v[:-1] if v.endswith("\n") else v for k, v in parts.items()}


def test_generate_cli_plain_json_and_stream_on_a_word_model(word_model, word_checkpoint, capsys, torch_threads) -> None:
    args = ["generate", str(word_checkpoint), "--prompt", "the Zcat", "--length", "77", "--seed", "3"]
    want = compare(word_model, "the Zcat", 77, temperature=0.8, seed=3)
    assert len(want.sampled_steps) != len(want.greedy_steps) or any(n > 1 for n in want.sampled_steps)

    assert main(args) == 0
    captured = capsys.readouterr()
    parts = sections(captured.out)
    assert parts["sampled"] == want.sampled and parts["greedy"] == want.greedy
    assert "'Z'" in captured.err

    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["greedy"], data["sampled"]) == (want.greedy, want.sampled)
    assert data["greedy_steps"] == want.greedy_steps and data["sampled_steps"] == want.sampled_steps

    assert main([*args, "--stream"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("=== sampled (temperature 0.8, seed 3) ===\n")
    parts = sections(captured.out)
    assert parts["sampled"] == want.sampled and parts["greedy"] == want.greedy
    assert captured.err.count("'Z'") == 1

    assert main([*args, "--stream", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    steps, final = lines[:-1], lines[-1]
    assert "".join(s["sampled"] for s in steps) == want.sampled
    assert "".join(s["greedy"] for s in steps) == want.greedy
    assert len(steps) == max(len(want.greedy_steps), len(want.sampled_steps))  # one line per step
    assert [len(s["sampled"]) for s in steps if s["sampled"]] == want.sampled_steps
    assert final["done"] and final["sampled"] == want.sampled


def test_generate_cli_stream_on_a_character_model_still_one_character_per_line(tmp_path, capsys, torch_threads):
    model = tiny_model("gru", vocab="ab c\n", hidden=8, layers=1)
    folder = save_checkpoint(model, tmp_path / "char")
    assert main(["generate", str(folder), "--prompt", "ab", "--length", "25", "--seed", "1", "--stream", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    want = compare(model, "ab", 25, seed=1)
    assert len(lines) == 26 and all(len(s["greedy"]) == len(s["sampled"]) == 1 for s in lines[:-1])
    assert "".join(s["sampled"] for s in lines[:-1]) == want.sampled and "greedy_steps" not in lines[-1]


# -- the Hub ---------------------------------------------------------------------------------------


def test_a_word_model_pushed_to_the_hub_loads_back_the_same(tmp_path: Path, monkeypatch, word_model) -> None:
    from chargen.hub import push_checkpoint
    from tests.hub_server import TOKEN, StandInHub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    folder = save_checkpoint(word_model, tmp_path / "word")
    with StandInHub() as hub:
        push_checkpoint(folder, "carol/words", token=TOKEN, endpoint=hub.endpoint)
        assert json.loads(hub.files("carol/words")["config.json"])["unit"] == "word"
        loaded = load_model("carol/words", endpoint=hub.endpoint, cache_dir=tmp_path / "cache")
    assert loaded.unit == "word" and loaded.vocab == word_model.vocab and loaded.config == word_model.config
    state, want = loaded.state_dict(), word_model.state_dict()
    assert state.keys() == want.keys() and all(torch.equal(state[k], want[k]) for k in state)
    assert compare(loaded, "the", 80, seed=4) == compare(word_model, "the", 80, seed=4)


# -- configs: character models as before, word models as version 3 ------------------------------------


def test_a_character_config_is_written_exactly_as_before_word_models(tmp_path: Path) -> None:
    model = tiny_model("gru", vocab="ab\n", hidden=4, layers=1, embedding=2)
    save_checkpoint(model, tmp_path / "char")
    # The layout every chargen since format_version 2 wrote, key for key and byte for byte.
    before = {
        "vocab": ["\n", "a", "b"],
        "cell": "gru",
        "embedding_size": 2,
        "hidden_size": 4,
        "num_layers": 1,
        "dropout": 0.0,
        "format": "chargen",
        "format_version": 2,
    }
    text = (tmp_path / "char" / "config.json").read_text(encoding="utf-8")
    assert text == json.dumps(before, ensure_ascii=False, indent=2) + "\n"
    import hashlib

    canonical = json.dumps(before, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    _, metadata = read_weights_and_metadata(tmp_path / "char" / "model.safetensors")
    assert metadata[CONFIG_DIGEST_KEY] == hashlib.sha256(canonical.encode()).hexdigest()[:32]
    # and the version-1 fixture still loads, as a character model
    old = load_model(FIXTURES / "checkpoint-v1")
    assert old.unit == "char" and old.config.format_version == 1


def test_a_word_config_is_version_3_and_a_char_vocab_cannot_hold_words(word_model, tmp_path: Path) -> None:
    save_checkpoint(word_model, tmp_path / "word")
    config = json.loads((tmp_path / "word" / "config.json").read_text(encoding="utf-8"))
    assert config["format_version"] == 3 and config["unit"] == "word"
    assert load_model(tmp_path / "word").config == word_model.config
    # A word list read as a character model (unit removed) is refused, not mis-read.
    del config["unit"]
    (tmp_path / "word" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(Exception, match="single characters"):
        load_model(tmp_path / "word")
