import math

import pytest
import torch
from torch.nn import functional as F

from chargen.errors import ConfigError
from chargen.model import CELLS, CharRNN, ModelConfig
from tests.helpers import tiny_model


@pytest.mark.parametrize("cell", CELLS)
def test_shapes(cell: str) -> None:
    model = tiny_model(cell)
    ids = torch.randint(0, len(model.vocab), (3, 7))
    logits, state = model(ids)
    assert logits.shape == (3, 7, len(model.vocab))
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 3, 16)
    assert (cell == "lstm") == isinstance(state, tuple)


@pytest.mark.parametrize("cell", CELLS)
def test_carried_state_equals_one_pass(cell: str) -> None:
    model = tiny_model(cell, dropout=0.3)  # eval mode: dropout must not matter
    ids = torch.randint(0, len(model.vocab), (2, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole, _ = model(ids)
        pieces, state = [], None
        for chunk in (ids[:, :1], ids[:, 1:8], ids[:, 8:9], ids[:, 9:]):
            logits, state = model(chunk, state)
            pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, rtol=1e-5, atol=1e-6)


def test_vocab_is_exposed() -> None:
    model = tiny_model(vocab="hello")
    assert model.vocab.decode(model.vocab.encode("hole")) == "hole"
    assert model.cell == "lstm"


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS)
def test_learns_a_deterministic_text(cell: str) -> None:
    text = "the quick brown fox jumps over a lazy dog. " * 4
    torch.manual_seed(0)
    config = ModelConfig(
        vocab=sorted(set(text)), cell=cell, embedding_size=16, hidden_size=64, num_layers=1, dropout=0.0
    )
    model = CharRNN(config)
    ids = torch.tensor([model.vocab.encode(text)])  # (1, T)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    first = None
    for _ in range(150):
        logits, _ = model(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, len(model.vocab)), ids[:, 1:].reshape(-1))
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first > 2.5 and loss.item() < 0.05
    # Greedy continuation of the first 20 characters reproduces the rest of the sentence.
    model.eval()
    with torch.no_grad():
        logits, state = model(ids[:, :20])
        out = []
        nxt = logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(23):
            out.append(nxt.item())
            logits, state = model(nxt, state)
            nxt = logits[:, -1].argmax(-1, keepdim=True)
    assert model.vocab.decode(out) == text[20:43]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cell": "transformer"}, "cell must be one of rnn, lstm, gru"),
        ({"hidden_size": -4}, "hidden_size must be a positive integer"),
        ({"num_layers": 0}, "num_layers must be a positive integer"),
        ({"embedding_size": 2.5}, "embedding_size must be a positive integer"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"dropout": -0.1}, "dropout must be in [0, 1)"),
        ({"dropout": math.nan}, "dropout must be in [0, 1)"),
        ({"vocab": []}, "vocab must be a non-empty list"),
        ({"vocab": ["a", "a"]}, "vocab is invalid"),
    ],
)
def test_invalid_configs_say_what_is_allowed(changes: dict, message: str) -> None:
    settings = {"vocab": ["a", "b"], **changes}
    with pytest.raises(ConfigError) as info:
        ModelConfig(**settings)
    assert message in str(info.value)


def test_config_dict_round_trip_and_strictness() -> None:
    config = ModelConfig(vocab=["a", "é"], cell="gru", hidden_size=8)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown key"):
        ModelConfig.from_dict({**config.to_dict(), "surprise": 1})
    with pytest.raises(ConfigError, match="missing key"):
        ModelConfig.from_dict({k: v for k, v in config.to_dict().items() if k != "hidden_size"})
    with pytest.raises(ConfigError, match="not a chargen model"):
        ModelConfig.from_dict({"model_type": "gpt2"})
