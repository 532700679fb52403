"""The Train tab with word models (issue 17): the unit and vocabulary-size inputs and their refusals, a
streamed word run whose curves are in nats per character, samples that are the word model's own, the
model card, the zip round trip keeping the unit, and /train through the served app."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest

from chargen.app.session.checks import DEFAULT_TAB_VOCAB_SIZE, parse_train_request
from chargen.app.session.history import RunHistory
from chargen.app.session.store import SessionStore
from chargen.app.session.stream import SAMPLE_LENGTH, SAMPLE_TEMPERATURE, model_from_weights, train_stream
from chargen.errors import ConfigError, CorpusError
from chargen.inference.generate import generate
from chargen.training.evaluate import score_text
from tests.helpers import make_text

TEXT = make_text(words=3000)


# --- inputs -------------------------------------------------------------------------------------


def test_unit_and_vocabulary_size_are_read_as_the_tab_sends_them():
    request = parse_train_request(TEXT, "gru", 30, "small", 60, 2, "words", 200)
    assert (request.unit, request.vocab_size) == ("word", 200)
    assert parse_train_request(TEXT, "gru", 30, "small", 60, 2, " Words ", "120.0").vocab_size == 120
    # Blank: the tab's default, which the text's distinct characters never exceed (check_text allows 1,000).
    assert parse_train_request(TEXT, "gru", 30, "small", 60, 2, "word", None).vocab_size == DEFAULT_TAB_VOCAB_SIZE
    # A character model's tokens are its characters: the (hidden) size box is ignored.
    request = parse_train_request(TEXT, "gru", 30, "small", 60, 2, "characters", 500)
    assert (request.unit, request.vocab_size) == ("char", None)
    assert parse_train_request(TEXT, "gru", 30, "small", 60).unit == "char"


@pytest.mark.parametrize(
    ("unit", "vocab_size", "error", "message"),
    [
        ("letters", None, ConfigError, "unit must be one of characters, words, got 'letters'"),
        ("words", 29, ConfigError, r"vocabulary size must be a whole number from 30 \(the text's distinct characters"),
        ("words", 4001, ConfigError, "to 4,000, got 4001"),
        ("words", 99.5, ConfigError, "vocabulary size must be a whole number"),
        ("words", "many", ConfigError, "got 'many'"),
        ("words", True, ConfigError, "got True"),
    ],
)
def test_bad_units_and_vocabulary_sizes_are_refused_saying_what_is_allowed(unit, vocab_size, error, message):
    assert len(set(TEXT)) == 30
    with pytest.raises(error, match=message):
        parse_train_request(TEXT, "gru", 30, "small", 60, 2, unit, vocab_size)


def test_a_text_with_no_words_is_refused_for_a_word_model_only():
    no_words = "., ;:!?-\n" * 1200
    with pytest.raises(CorpusError, match="the text has no words .* train it with characters instead"):
        parse_train_request(no_words, "gru", 30, "small", 60, 2, "words", None)
    assert parse_train_request(no_words, "gru", 30, "small", 60, 2, "characters", None).unit == "char"


# --- a streamed word run ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word_run():
    """A few seconds of a small word GRU on TEXT: every update of the stream, the last one "done"."""
    request = parse_train_request(TEXT, "gru", 6, "small", max_seconds=6, min_seconds=2, unit="words", vocab_size=50)
    updates = list(train_stream(request, sample_every=0))
    assert updates[-1]["kind"] == "done"
    return updates


@pytest.mark.slow
def test_a_word_run_trains_a_word_model_and_reports_nats_per_character(word_run):
    done = word_run[-1]
    model = model_from_weights(done["config"], done["weights"])
    assert model.unit == "word" and len(model.vocab) == 50 and done["unit"] == "word"
    val = [point for update in word_run for point in update.get("val") or []]
    assert val and done["val_loss"] == pytest.approx(min(v for _, v in val))
    # The oracle: chargen eval's figure (total NLL / characters) on new text of the same kind is
    # close to the streamed validation figure, and far from the per-token one.
    fresh = score_text(model, make_text(seed=1, words=600))
    assert done["val_loss"] == pytest.approx(fresh["nats_per_char"], abs=0.15)
    assert fresh["nats_per_token"] > 1.5 * fresh["nats_per_char"]
    assert abs(done["val_loss"] - fresh["nats_per_token"]) > 0.3
    train = [v for update in word_run for _, v in update.get("train") or []]
    assert train and all(math.isfinite(v) for v in train)
    assert train[-1] < fresh["nats_per_token"]  # per character too (a per-token train loss would sit above it)


@pytest.mark.slow
def test_a_word_runs_samples_are_the_word_models_own(word_run):
    samples = [(u["sample"], u["config"], u["weights"]) for u in word_run if u.get("sample")]
    assert len(samples) >= 2
    for sample, config, weights in samples:
        model = model_from_weights(config, weights)
        step = int(sample.split(":")[0].removeprefix("step "))
        expected = generate(model, "\n", SAMPLE_LENGTH, temperature=SAMPLE_TEMPERATURE, seed=step).text
        assert sample == f"step {step}: {expected}"
        assert model.unit == "word" and len(expected) == SAMPLE_LENGTH


@pytest.mark.slow
def test_a_word_model_keeps_its_unit_through_the_card_and_the_zip(word_run, tmp_path: Path):
    history = RunHistory()
    for update in word_run:
        history.apply(update)
    assert history.unit == "word"
    model = history.model()
    store = SessionStore(root=tmp_path)
    try:
        kept = store.add("me", model, "GRU small words", history)
        card = (kept.folder / "README.md").read_text(encoding="utf-8")
        assert "A word-level GRU" in card and "50 tokens: words and whitespace runs" in card
        assert f"{history.best_val:.3f} nats/char" in card
        archive = store.zip("me", kept.name)
        with zipfile.ZipFile(archive) as zf:
            assert '"unit": "word"' in zf.read("config.json").decode()
        back = store.load_zip("other", archive)
        assert back.model.unit == "word" and back.model.vocab == model.vocab
        assert "words" in back.label
        assert generate(back.model, "the", 80, seed=3).text == generate(model, "the", 80, seed=3).text
    finally:
        store.close()


# --- served -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    from tests.train_app import serve_with_train_tab

    with serve_with_train_tab(tmp_path_factory.mktemp("app")) as served:
        yield served


@pytest.mark.slow
def test_train_a_word_model_through_the_api_and_use_it_in_every_view(served):
    from gradio_client import Client

    url = served[0]
    client = Client(url, verbose=False)
    job = client.submit(TEXT, "gru", 4, "small", "words", 80, api_name="/train")
    updates = [update[0] for update in job]
    final, curve = job.result()[:2]
    assert final["status"] == "done" and final["unit"] == "word" and final["model"].startswith("session:")
    assert any(u.get("unit") == "word" for u in updates[:-1])
    plot = curve.get("value") or curve
    val = [row[1] for row in plot["data"] if row[2] == "validation"]
    assert val and final["val_loss"] == pytest.approx(min(val), abs=1e-4)
    name = final["model"]
    greedy, sampled = client.predict("the cat", 0.8, 90, 0, 1.0, "5", name, api_name="/generate")[:2]
    assert len(greedy) == len(sampled) == 90
    sweep = client.predict("the cat", 90, "0, 0.8", "5", name, api_name="/sweep")
    assert [entry["text"] for entry in sweep] == [greedy, sampled]
    text = "The cat sat on the mat."
    expectations = client.predict(text, name, api_name="/expectations")
    assert (
        "".join(entry["char"] for entry in expectations)
        == text[len(text) - sum(len(e["char"]) for e in expectations) :]
    )
    assert len(expectations) < len(text) - 1  # a step per token, some of them words
    assert client.predict(TEXT[:500], name, api_name="/cells")
    assert len(client.predict("the", 40, 3, name, api_name="/beam")["text"]) == 40


@pytest.mark.slow
def test_word_settings_the_text_cannot_have_are_refused_in_the_tab(served):
    from gradio_client import Client

    client = Client(served[0], verbose=False)
    with pytest.raises(Exception, match="vocabulary size must be a whole number from 30"):
        client.predict(TEXT, "gru", 4, "small", "words", 10, api_name="/train")
    with pytest.raises(Exception, match="the text has no words"):
        client.predict("., ;:!?-\n" * 1200, "gru", 4, "small", "words", 100, api_name="/train")
    with pytest.raises(Exception, match="unit must be one of characters, words"):
        client.predict(TEXT, "gru", 4, "small", "syllables", 100, api_name="/train")
