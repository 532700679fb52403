"""Held-out loss: mean negative log-likelihood per character, the state carried through the text."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from chargen.model import CharRNN
from chargen.training.data import parallel_streams


def nll_per_char(model: CharRNN, ids: torch.Tensor, streams: int = 1, chunk: int = 1024) -> tuple[float, int]:
    """Mean NLL (nats) of every character after the first, and how many characters were scored.

    With ``streams=1`` the whole text is one sequence and the state is carried across it, as
    char-rnn and nanoGPT report validation loss. ``streams > 1`` cuts the text into that many
    contiguous rows scored side by side (faster; each row's first character has no context).
    """
    if len(ids) < 2:
        raise ValueError("need at least 2 characters to score")
    return nll_of_rows(model, parallel_streams(ids, streams), chunk)


def nll_of_rows(model: CharRNN, rows: torch.Tensor, chunk: int = 1024) -> tuple[float, int]:
    """Mean NLL (nats) of every character after the first of each row of ``rows`` (S, L), rows side by side."""
    if rows.dim() != 2 or rows.shape[1] < 2:
        raise ValueError(f"need rows of at least 2 characters, got shape {tuple(rows.shape)}")
    rows = rows.to(model.device)  # (S, L)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        with torch.inference_mode():
            for start in range(0, rows.shape[1] - 1, chunk):
                inputs = rows[:, start : start + chunk]  # (S, t)
                targets = rows[:, start + 1 : start + chunk + 1]  # (S, t')
                inputs = inputs[:, : targets.shape[1]]
                logits, state = model(inputs, state)  # (S, t, V)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
                total += loss.item()
                count += targets.numel()
    finally:
        model.train(was_training)
    return total / count, count


def report(nats: float, chars: int) -> dict[str, float | int]:
    """The figures that ``chargen eval`` prints: nats and bits per character, characters scored."""
    return {"nats_per_char": round(nats, 6), "bits_per_char": round(nats / math.log(2), 6), "chars": chars}


def score_text(model: CharRNN, text: str, streams: int = 1) -> dict[str, float | int | str]:
    """``chargen eval``'s figures for ``text``: nats and bits per character and the characters scored,
    and for a word model also nats per token and the tokens scored.

    Every id after the first of each stream is scored. Per character is the total negative
    log-likelihood divided by the characters those ids write, so a word model and a character
    model are compared on the same footing. Raises :class:`chargen.errors.UnknownCharactersError`
    naming characters the model has never seen.
    """
    ids = torch.tensor(model.vocab.encode(text), dtype=torch.long)
    if len(ids) < 2:
        raise ValueError(f"need at least 2 {'tokens' if model.unit == 'word' else 'characters'} to score")
    rows = parallel_streams(ids, streams)  # (S, L)
    nats, count = nll_of_rows(model, rows)
    if model.unit == "char":
        return report(nats, count)
    lengths = torch.tensor(model.vocab.token_lengths(), dtype=torch.long)
    chars = int(lengths[rows[:, 1:]].sum())
    figures: dict[str, float | int | str] = dict(report(nats * count / chars, chars))
    figures.update(unit="word", nats_per_token=round(nats, 6), tokens=count)
    return figures
