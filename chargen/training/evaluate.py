"""Held-out loss: mean negative log-likelihood per character, the state carried through the text."""

from __future__ import annotations

import math
from collections import Counter

import torch
from torch.nn import functional as F

from chargen.errors import UnknownCharactersError
from chargen.inference.generate import DEFAULT_PROMPT
from chargen.model import CharRNN
from chargen.training.data import parallel_streams

PAD = -100
"""Fills the end of rows shorter than the others in :func:`nll_of_rows`; never scored (cross_entropy's ignore_index)."""


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
    """Mean NLL (nats) of every character after the first of each row of ``rows`` (S, L), rows side by side,
    and how many were scored. A row may end in :data:`PAD` ids, which are not scored."""
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
                # Padding only ever follows a row's last id, so what it feeds the model is never scored.
                inputs = inputs[:, : targets.shape[1]].clamp(min=0)
                logits, state = model(inputs, state)  # (S, t, V)
                loss = F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum", ignore_index=PAD
                )
                total += loss.item()
                count += int((targets != PAD).sum())
    finally:
        model.train(was_training)
    return total / count, count


def report(nats: float, chars: int) -> dict[str, float | int]:
    """The figures that ``chargen eval`` prints: nats and bits per character, characters scored."""
    return {"nats_per_char": round(nats, 6), "bits_per_char": round(nats / math.log(2), 6), "chars": chars}


def unknown_counts(model: CharRNN, text: str) -> dict[str, int]:
    """The characters of ``text`` that ``model`` does not know, with how often each occurs, in order of appearance."""
    unknown = model.vocab.unknown(text)
    if not unknown:
        return {}
    counts = Counter(ch for ch in text if ch in set(unknown))
    return {ch: counts[ch] for ch in unknown}


def score_text(
    model: CharRNN, text: str, streams: int = 1, strict: bool = False
) -> dict[str, float | int | str | dict[str, int]]:
    """``chargen eval``'s figures for ``text``: nats and bits per character and the characters scored,
    and for a word model also nats per token and the tokens scored.

    Characters the model does not know are left out, as generation leaves them out of a prompt, and
    listed with their counts under ``"dropped"`` (absent when there are none); ``strict=True``
    refuses them instead with :class:`chargen.errors.UnknownCharactersError`.

    Every character is scored, the first one too: each stream starts from the state after
    :data:`~chargen.inference.generate.DEFAULT_PROMPT` (a line break, where an empty prompt starts
    generating), so a character model and a word model count the same characters of the same
    text. (A model that does not know the line break scores each stream from its first id.)
    ``streams > 1`` cuts the ids into that many contiguous rows scored side by side (faster; each
    row starts afresh). Per character is the total negative log-likelihood divided by the
    characters scored, so a word model and a character model are compared on the same footing.

    Example:
        >>> score_text(model, "ROMEO:\\nabc\\n")  # doctest: +SKIP
        {'nats_per_char': 2.1, 'bits_per_char': 3.03, 'chars': 11}
    """
    dropped = unknown_counts(model, text)
    if dropped and strict:
        raise UnknownCharactersError(list(dropped))
    if dropped:
        text = "".join(ch for ch in text if ch not in dropped)
    ids = model.vocab.encode(text)
    start = model.vocab.encode(DEFAULT_PROMPT) if not model.vocab.unknown(DEFAULT_PROMPT) else []
    unit = "tokens" if model.unit == "word" else "characters"
    if not ids:
        raise ValueError(f"nothing to score: no {unit} the model knows")
    if len(ids) < 2 and not start:
        raise ValueError(f"need at least 2 {unit} to score")
    rows = _stream_rows(ids, streams, start)  # (S, L)
    nats, count = nll_of_rows(model, rows)
    if model.unit == "char":
        figures: dict[str, float | int | str | dict[str, int]] = dict(report(nats, count))
    else:
        lengths = torch.tensor(model.vocab.token_lengths(), dtype=torch.long)
        targets = rows[:, 1:]
        chars = int(lengths[targets[targets != PAD]].sum())
        figures = dict(report(nats * count / chars, chars))
        figures.update(unit="word", nats_per_token=round(nats, 6), tokens=count)
    if dropped:
        figures["dropped"] = dropped
    return figures


def _stream_rows(ids: list[int], streams: int, start: list[int]) -> torch.Tensor:
    """``ids`` cut into ``streams`` contiguous rows, each after ``start``; shorter rows end in :data:`PAD`.

    Unlike :func:`~chargen.training.data.parallel_streams` no id is left over: every one is scored.
    """
    streams = max(1, min(streams, len(ids) // 2))
    width = -(-len(ids) // streams)  # ceil: the last rows may be shorter
    rows = torch.full((streams, len(start) + width), PAD, dtype=torch.long)
    for row in range(streams):
        piece = ids[row * width : (row + 1) * width]
        rows[row, : len(start)] = torch.tensor(start, dtype=torch.long)
        rows[row, len(start) : len(start) + len(piece)] = torch.tensor(piece, dtype=torch.long)
    return rows
