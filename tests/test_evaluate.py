import math

import pytest
import torch
from torch.nn import functional as F

from chargen.model import CharRNN, ModelConfig
from chargen.training.evaluate import nll_per_char, report, score_text
from tests.helpers import tiny_model


def _fit(text: str, steps: int, hidden: int = 48) -> CharRNN:
    torch.manual_seed(0)
    model = CharRNN(
        ModelConfig(
            vocab=sorted(set(text)), cell="gru", embedding_size=8, hidden_size=hidden, num_layers=1, dropout=0.0
        )
    )
    ids = torch.tensor(model.vocab.encode(text))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - 33, (16,), generator=gen)
        batch = ids[starts[:, None] + torch.arange(33)]
        logits, _ = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def test_matches_a_one_pass_reference() -> None:
    model = tiny_model("lstm")
    ids = torch.randint(0, len(model.vocab), (3000,), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
        reference = F.cross_entropy(logits[0], ids[1:]).item()
    nats, chars = nll_per_char(model, ids, chunk=256)
    assert chars == 2999
    assert nats == pytest.approx(reference, rel=1e-5)


@pytest.mark.slow
def test_near_zero_on_memorized_text() -> None:
    text = "abcdefgh" * 200
    model = _fit(text, steps=80)
    nats, _ = nll_per_char(model, torch.tensor(model.vocab.encode(text)))
    assert nats < 0.05


@pytest.mark.slow
def test_near_log_v_on_uniform_random_text() -> None:
    alphabet = "abcdefgh"
    gen = torch.Generator().manual_seed(5)
    train_text = "".join(alphabet[i] for i in torch.randint(0, 8, (20000,), generator=gen).tolist())
    model = _fit(train_text, steps=60, hidden=16)
    test_ids = torch.randint(0, 8, (5000,), generator=gen)
    nats, _ = nll_per_char(model, test_ids, streams=4)
    assert nats == pytest.approx(math.log(8), abs=0.06)


def test_report_converts_to_bits() -> None:
    assert report(math.log(2), 10) == {"nats_per_char": round(math.log(2), 6), "bits_per_char": 1.0, "chars": 10}


# -- chargen eval: what it counts, and characters the model does not know (issue 22) -----------------


def _oracle_nll(model: CharRNN, ids: list[int]) -> float:
    """Total -log p of every id after the first, by the model's own forward in one pass (float64 softmax)."""
    with torch.inference_mode():
        logits, _ = model(torch.tensor([ids[:-1]]))  # (1, T, V)
        return -torch.log_softmax(logits[0].double(), dim=1)[range(len(ids) - 1), ids[1:]].sum().item()


@pytest.mark.parametrize("streams", [1, 3])
def test_word_and_character_models_count_the_same_characters(streams: int) -> None:
    from tests.helpers import make_text, tiny_word_model

    word_model = tiny_word_model("gru", vocab_size=40)
    char_model = tiny_model("gru", vocab="".join(word_model.vocab.chars))
    text = "the cat sat on the mat.\n" + make_text(seed=7, words=60)  # "the": one token, several characters
    assert len(word_model.vocab.tokens[word_model.vocab.encode(text)[0]]) > 1
    words, chars = score_text(word_model, text, streams=streams), score_text(char_model, text, streams=streams)
    assert words["chars"] == chars["chars"] == len(text)
    assert words["tokens"] == len(word_model.vocab.encode(text))


def test_every_character_is_scored_from_a_line_break_as_generation_starts() -> None:
    model = tiny_model("lstm")
    text = "abc defg\nhab cd"
    ids = model.vocab.encode("\n" + text)
    figures = score_text(model, text)
    assert figures["chars"] == len(text)
    assert figures["nats_per_char"] == pytest.approx(_oracle_nll(model, ids) / len(text), abs=2e-6)
    # two streams: each row of ceil(15 / 2) = 8 characters, the last one shorter, each after a line break
    figures = score_text(model, text, streams=2)
    total = _oracle_nll(model, model.vocab.encode("\n" + text[:8])) + _oracle_nll(
        model, model.vocab.encode("\n" + text[8:])
    )
    assert figures["chars"] == len(text)
    assert figures["nats_per_char"] == pytest.approx(total / len(text), abs=2e-6)


def test_unknown_characters_are_left_out_and_counted_unless_strict() -> None:
    from chargen.errors import UnknownCharactersError

    model = tiny_model("gru")
    text = "abXc dZe\nfXg"
    figures = score_text(model, text)
    assert figures["dropped"] == {"X": 2, "Z": 1}
    assert figures == {**score_text(model, "abc de\nfg"), "dropped": {"X": 2, "Z": 1}}
    assert "dropped" not in score_text(model, "abc de\nfg")
    with pytest.raises(UnknownCharactersError) as refused:
        score_text(model, text, strict=True)
    assert refused.value.unknown == ["X", "Z"]


def test_the_eval_cli_leaves_out_unknown_characters_and_says_so(tmp_path, capsys) -> None:
    import json

    from chargen import save_checkpoint
    from chargen.cli import main

    folder = save_checkpoint(tiny_model("gru"), tmp_path / "m")
    path = tmp_path / "t.txt"
    path.write_text("abé cd\né", encoding="utf-8")
    threads = torch.get_num_threads()
    try:
        assert main(["eval", str(folder), str(path)]) == 0
        out, err = capsys.readouterr()
        figures = json.loads(out)
        assert figures["dropped"] == {"é": 2} and figures["chars"] == 6
        assert err == "note: left out characters the model does not know: 'é' (2)\n"
        assert main(["eval", str(folder), str(path), "--strict"]) == 2
        assert capsys.readouterr().err.startswith("error: text has 1 character(s) not in the vocabulary: 'é'")
    finally:
        torch.set_num_threads(threads)
