"""The app's /generate details say how much of each text is copied from the model's training text, and
an n-gram model is offered beside the networks (generated without the batching engine)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chargen import compare
from chargen.app import views
from chargen.app.generate_tab import Handlers
from chargen.checkpoint import save_checkpoint
from chargen.inference.batching import ServingSettings
from chargen.inference.originality import INDEX_NAME, TrainingTextIndex
from chargen.ngram import train_ngram
from chargen.vocab import Vocab
from tests.helpers import tiny_model

TRAINING_TEXT = "abcabd hag\nfed cab bad\n" * 30


def _longest_copy(text: str, training: str) -> int:
    """Brute force: the longest piece of ``text`` that occurs in ``training``."""
    best = 0
    for i in range(len(text)):
        length = best + 1
        while i + length <= len(text) and text[i : i + length] in training:
            best = length
            length += 1
    return best


def _last(handlers: Handlers, **inputs: object) -> tuple:
    async def run() -> tuple:
        last = None
        async for outputs in handlers.generate_batched(**inputs):
            last = outputs
        return last

    return asyncio.run(run())


def test_the_last_update_measures_each_text_against_the_training_text(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    save_checkpoint(tiny_model("lstm", seed=2), folder)
    TrainingTextIndex.build(TRAINING_TEXT).save(folder / INDEX_NAME)
    offered = [views.OfferedModel("tiny", tiny_model("lstm", seed=2), source=str(folder))]
    handlers = Handlers(offered)
    updates = list(handlers.generate("ab", 0.9, 80, seed="3", model_name="tiny"))
    assert all("originality" not in update[5] for update in updates[:-1])
    greedy, sampled, *_rest, data = updates[-1]
    meter = data["originality"]
    for name, text in (("greedy", greedy), ("sampled", sampled)):
        assert meter[name]["longest_copy_chars"] == _longest_copy(text, TRAINING_TEXT)
        piece = meter[name]["longest_copy_text"]
        assert piece in TRAINING_TEXT and piece in text


def test_a_model_without_an_index_has_no_meter() -> None:
    handlers = Handlers({"tiny": tiny_model("lstm", seed=2)})
    *_rest, data = list(handlers.generate("ab", 0.9, 40, seed="3"))[-1]
    assert "originality" not in data


def test_an_ngram_model_is_offered_beside_a_network_with_the_batching_engine_on() -> None:
    vocab = Vocab.from_text(TRAINING_TEXT)
    ngram = train_ngram([vocab.encode(TRAINING_TEXT)], vocab, 4)
    network = tiny_model("lstm", vocab="".join(vocab.tokens), seed=1)
    handlers = Handlers({"net": network, "markov": ngram}, batching=ServingSettings(max_active=4))
    assert set(handlers.engines) == {"net"}  # the n-gram model has no network to batch
    for name, model in (("markov", ngram), ("net", network)):
        greedy, sampled, seed, *_rest = _last(
            handlers, prompt="ab", temperature=0.8, length=50, seed="9", model_name=name
        )
        pair = compare(model, "ab", 50, temperature=0.8, seed=9)
        assert (greedy, sampled, seed) == (pair.greedy, pair.sampled, "9")


def test_the_header_and_facts_describe_an_ngram_model() -> None:
    vocab = Vocab.from_text(TRAINING_TEXT)
    ngram = train_ngram([vocab.encode(TRAINING_TEXT)], vocab, 4)
    header, facts = Handlers({"markov": ngram}).header("markov")
    assert "order-4 Markov chain" in header and "counts" in header
    assert f"n-gram of order 4, {len(vocab)} characters, {ngram.num_parameters():,} counts" in facts


def test_a_model_trained_in_the_session_is_measured_against_that_sessions_text(tmp_path: Path, monkeypatch) -> None:
    from types import SimpleNamespace

    from chargen.app.session.store import SessionStore
    from chargen.app.train_views import SessionModels

    store = SessionStore(root=tmp_path)
    session_models = SessionModels(store)
    visitor = SimpleNamespace(session_hash="visitor-1", client=None, headers={})
    stranger = SimpleNamespace(session_hash="visitor-2", client=None, headers={})
    vocab_text = "abcdefgh \n"
    model = tiny_model("lstm", vocab=vocab_text, seed=5)
    kept = store.add("visitor-1", model, "tiny here", training_text=TRAINING_TEXT)
    assert kept.index is not None and kept.index.text == TRAINING_TEXT  # kept with the model, freed with it
    handlers = Handlers({"app": tiny_model("lstm", vocab=vocab_text, seed=6)}, session_models)
    *_rest, data = list(handlers.generate("ab", 0.9, 60, seed="2", model_name=kept.name, session=visitor))[-1]
    greedy, sampled = data["greedy"], data["sampled"]
    assert data["originality"]["greedy"]["longest_copy_chars"] == _longest_copy(greedy, TRAINING_TEXT)
    assert data["originality"]["sampled"]["longest_copy_chars"] == _longest_copy(sampled, TRAINING_TEXT)
    fresh = Handlers({"app": tiny_model("lstm", vocab=vocab_text, seed=6)}, session_models)
    assert fresh.training_text_index(kept.name, stranger) is None  # another session can't reach it
    # A text too long to index keeps its model usable, with no meter.
    from chargen.app.session import store as store_module

    monkeypatch.setattr(store_module, "MAX_INDEXED_CHARS", 10)
    unindexed = SessionStore(root=tmp_path / "small").add("v", model, "long text", training_text=TRAINING_TEXT)
    assert not (unindexed.folder / "originality.safetensors").exists()
