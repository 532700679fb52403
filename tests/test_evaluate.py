import math

import pytest
import torch
from torch.nn import functional as F

from chargen.model import CharRNN, ModelConfig
from chargen.training.evaluate import nll_per_char, report
from tests.conftest import tiny_model


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


def test_near_zero_on_memorized_text() -> None:
    text = "abcdefgh" * 200
    model = _fit(text, steps=80)
    nats, _ = nll_per_char(model, torch.tensor(model.vocab.encode(text)))
    assert nats < 0.05


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
