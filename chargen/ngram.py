"""A Markov (n-gram) character model with interpolated Kneser-Ney smoothing: counts, not weights.

An order-N model predicts the next character from the previous N - 1 (order 1: from none).
Training is one count over the corpus (:func:`count_ngrams`); the model is those counts.

**Interpolated Kneser-Ney** (Chen & Goodman 1998, section 3; one discount per order). For the
highest order N and a context h (the last N - 1 characters), with c(hw) the number of times the
n-gram hw occurs::

    P_N(w | h) = max(c(hw) - D_N, 0) / c(h.)  +  D_N * N1+(h.) / c(h.) * P_{N-1}(w | h')

where c(h.) = sum_w c(hw), N1+(h.) = the number of distinct w with c(hw) > 0, and h' is h
without its first character. Lower orders k < N replace counts by *continuation counts*
N1+(.hw), the number of distinct characters seen before hw (a character that follows many
different contexts is a likely continuation of an unseen one; one that only ever ends one
phrase is not)::

    P_k(w | h) = max(N1+(.hw) - D_k, 0) / N1+(.h.)  +  D_k * N1+(h.) / N1+(.h.) * P_{k-1}(w | h')

with N1+(.h.) = sum_w N1+(.hw) and N1+(h.) the number of w with N1+(.hw) > 0. Order 0 is
the uniform distribution 1/V, so every character of the vocabulary keeps some probability.
A context with no counts at its order (never seen, or seen only at the very start of the text
for a lower order) passes the next lower order's distribution through unchanged. Each P_k sums
to 1 over the vocabulary, so P_N does at every context.

Discounts: D_k = n1 / (n1 + 2 n2) (Ney, Essen & Kneser 1994), n1 and n2 the numbers of
k-grams whose count (order N) or continuation count (k < N) is exactly 1 and 2; 0.5 when
either is zero (tiny texts).

Near the start of a text a context is shorter than N - 1 characters: the prediction starts at
the order its length allows, P_{len(h)+1}, with continuation counts (it is a lower order).

Storage (checkpoint folder: ``config.json`` + ``model.safetensors``, no pickle): the n-grams
form a trie, order by order. Order k's entries are its distinct k-grams sorted by (parent,
token): ``order{k}.parent`` (int32, the index of the (k-1)-gram prefix among order k-1's
entries; 0 for order 1, whose parent is the empty context), ``order{k}.token`` (int32, the last
token) and ``order{k}.count`` (int64: c for order N, N1+(.hw) for k < N); ``discounts`` (float64,
N values). Word vocabularies (``unit="word"``) work the same way, a token per step.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from chargen.errors import CheckpointError, ConfigError
from chargen.vocab import UNITS, Vocab

NGRAM_CELL = "ngram"
MIN_ORDER, MAX_ORDER = 1, 10
NGRAM_FORMAT_VERSION = 4
"""config.json's ``format_version`` for n-gram models: chargens that read up to version 3 refuse
them with "upgrade chargen" instead of misreading them."""
DEFAULT_DISCOUNT = 0.5
"""The discount of an order whose count-of-counts n1 or n2 is zero (a tiny text)."""


def check_order(order: object) -> int:
    """``order`` if it is an integer in 1..10, else a :class:`ConfigError` saying what is allowed."""
    if isinstance(order, bool) or not isinstance(order, int) or not MIN_ORDER <= order <= MAX_ORDER:
        raise ConfigError(f"order must be an integer from {MIN_ORDER} to {MAX_ORDER}, got {order!r}")
    return order


@dataclass(frozen=True)
class NgramConfig:
    """What rebuilds an n-gram model besides its counts: the vocabulary, its unit and the order."""

    vocab: tuple[str, ...]
    order: int
    unit: str = "char"

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocab", tuple(self.vocab))
        check_order(self.order)
        if self.unit not in UNITS:
            raise ConfigError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if not self.vocab:
            raise ConfigError("vocab must be a non-empty list of tokens")
        try:
            Vocab.from_list(list(self.vocab), self.unit)
        except ValueError as exc:
            raise ConfigError(f"vocab is invalid: {exc}") from None

    @property
    def cell(self) -> str:
        return NGRAM_CELL

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form written to ``config.json``."""
        return {
            "vocab": list(self.vocab),
            "cell": NGRAM_CELL,
            "order": self.order,
            "unit": self.unit,
            "format": "chargen",
            "format_version": NGRAM_FORMAT_VERSION,
        }

    @classmethod
    def from_dict(cls, data: Any) -> NgramConfig:
        """Rebuild a config from ``config.json``; unknown or missing keys are a :class:`ConfigError`."""
        if not isinstance(data, dict) or data.get("format") != "chargen" or data.get("cell") != NGRAM_CELL:
            raise ConfigError('not a chargen n-gram config (needs "format": "chargen", "cell": "ngram")')
        expected = {"vocab", "cell", "order", "unit", "format", "format_version"}
        if set(data) != expected:
            extra, missing = sorted(set(data) - expected), sorted(expected - set(data))
            raise ConfigError(f"n-gram config keys differ: unknown {extra}, missing {missing}")
        if data["format_version"] != NGRAM_FORMAT_VERSION:
            raise ConfigError(f"n-gram config has format_version {data['format_version']!r}, expected 4")
        if not isinstance(data["vocab"], list):
            raise ConfigError("vocab must be a list of tokens")
        return cls(vocab=tuple(data["vocab"]), order=data["order"], unit=data["unit"])


def is_ngram_config(data: Any) -> bool:
    """Whether parsed ``config.json`` data describes an n-gram model."""
    return isinstance(data, dict) and data.get("cell") == NGRAM_CELL


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int(np.count_nonzero(counts == 1)), int(np.count_nonzero(counts == 2))
    return n1 / (n1 + 2 * n2) if n1 and n2 else DEFAULT_DISCOUNT


def count_ngrams(pieces: Sequence[Sequence[int] | np.ndarray], order: int, vocab_size: int) -> dict[str, np.ndarray]:
    """The tensors of an order-``order`` model of ``pieces`` (lists of ids, counted apart: no n-gram
    crosses from one piece into the next): see the module docstring for their layout.

    Each order is one ``np.unique`` over keys (rank of the (k-1)-gram prefix, last token), so the
    entries come out sorted by (parent, token) and a k-gram's rank is its entry index.
    """
    check_order(order)
    base = vocab_size + 1  # one more id: the boundary between pieces
    boundary = vocab_size
    arrays = []
    for piece in pieces:
        arrays.extend([np.asarray(piece, dtype=np.int64), np.array([boundary], dtype=np.int64)])
    ids = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() > vocab_size):
        raise ValueError(f"ids must be in 0..{vocab_size - 1}")
    n = len(ids)
    tensors: dict[str, np.ndarray] = {}
    discounts = []
    prefix_rank = np.zeros(n, dtype=np.int64)  # rank of the (k-1)-gram starting at each position
    valid = np.ones(n, dtype=bool)  # the (k-1)-gram there holds no boundary
    for k in range(1, order + 1):
        m = max(n - k + 1, 0)  # positions where a k-gram starts
        last = ids[k - 1 : k - 1 + m]
        valid = valid[:m] & (last != boundary)
        keys = prefix_rank[:m] * base + last
        unique, inverse = np.unique(keys[valid], return_inverse=True)
        rank = np.full(m, -1, dtype=np.int64)
        rank[valid] = inverse
        if k == order:
            counts = np.bincount(inverse, minlength=len(unique)).astype(np.int64)
        else:
            # Continuation counts: distinct (preceding token, k-gram) pairs, a boundary not a token.
            follows = np.zeros(m, dtype=bool)
            follows[1:] = valid[1:] & (ids[: m - 1] != boundary)
            pairs = np.unique(rank[follows] * base + ids[: m - 1][follows[1:]])
            counts = np.bincount(pairs // base, minlength=len(unique)).astype(np.int64)
        tensors[f"order{k}.parent"] = (unique // base).astype(np.int32)
        tensors[f"order{k}.token"] = (unique % base).astype(np.int32)
        tensors[f"order{k}.count"] = counts
        discounts.append(_discount(counts))
        prefix_rank = np.where(rank >= 0, rank, 0)
    tensors["discounts"] = np.array(discounts, dtype=np.float64)
    return tensors


class _Order:
    """One order's trie level, laid out for lookups: children of each parent, their tokens and counts."""

    def __init__(self, parent: np.ndarray, token: np.ndarray, count: np.ndarray, parents: int, discount: float):
        self.first_child = np.searchsorted(parent, np.arange(parents + 1)).tolist()  # parents + 1 offsets
        self.tokens_list = token.tolist()  # for bisect, faster than numpy on one value
        self.tokens = token.astype(np.int64)
        self.counts = count.astype(np.float64)
        self.discount = discount
        self.totals = np.bincount(parent, weights=self.counts, minlength=parents)  # per parent
        self.distinct = np.bincount(parent, weights=(count > 0).astype(np.float64), minlength=parents)

    def child(self, parent: int, token: int) -> int:
        """The entry of (parent's n-gram + token), or -1."""
        lo, hi = self.first_child[parent], self.first_child[parent + 1]
        at = bisect_left(self.tokens_list, token, lo, hi)
        return at if at < hi and self.tokens_list[at] == token else -1


class NgramModel(nn.Module):
    """An interpolated Kneser-Ney n-gram model with the recurrent models' interface.

    ``forward(ids[B, T], state) -> (logits[B, T, V], state)``: the logits are log-probabilities
    (so softmax gives the probabilities back exactly) and the state is the last ``order - 1`` ids
    of each row, -1 where there are fewer (a (B, order - 1) long tensor). It has no weights to
    train; it runs on the CPU.
    """

    def __init__(self, config: NgramConfig, tensors: dict[str, np.ndarray]):
        super().__init__()
        self.config = config
        self.vocab = Vocab.from_list(list(config.vocab), config.unit)
        self.tensors = _checked(config, tensors)
        discounts = self.tensors["discounts"].tolist()
        self._orders: list[_Order] = []
        parents = 1
        for k in range(1, config.order + 1):
            t = self.tensors
            level = _Order(t[f"order{k}.parent"], t[f"order{k}.token"], t[f"order{k}.count"], parents, discounts[k - 1])
            self._orders.append(level)
            parents = len(t[f"order{k}.token"])

    @property
    def order(self) -> int:
        """How many tokens an n-gram spans: the next one and ``order - 1`` before it."""
        return self.config.order

    @property
    def unit(self) -> str:
        return self.config.unit

    @property
    def cell(self) -> str:
        return NGRAM_CELL

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def num_parameters(self) -> int:
        """How many counts the model stores (it has no trained weights)."""
        return sum(len(level.tokens) for level in self._orders)

    def context_entries(self, context: Sequence[int]) -> list[int]:
        """For k = 1..order: the entry of the last k - 1 ids of ``context`` among order k - 1's
        entries (0 for the empty context), or -1 when that context was never seen or ``context`` is
        shorter than k - 1."""
        context = list(context)[-(self.order - 1) :] if self.order > 1 else []
        entries = [0]
        for length in range(1, self.order):
            entry = -1
            if len(context) >= length:
                entry = 0
                for j, token in enumerate(context[len(context) - length :]):
                    entry = self._orders[j].child(entry, token)
                    if entry < 0:
                        break
            entries.append(entry)
        return entries

    def probabilities(self, context: Sequence[int]) -> np.ndarray:
        """P(next token | ``context``) over the vocabulary (float64, sums to 1): interpolated Kneser-Ney."""
        size = len(self.vocab)
        probs = np.full(size, 1.0 / size)
        entries = self.context_entries(context)
        for k, level in enumerate(self._orders, start=1):
            entry = entries[k - 1]
            if entry < 0:
                break  # longer contexts are unseen too
            total = level.totals[entry]
            if total <= 0:
                continue
            lo, hi = level.first_child[entry], level.first_child[entry + 1]
            discount = level.discount
            probs *= discount * level.distinct[entry] / total
            probs[level.tokens[lo:hi]] += np.maximum(level.counts[lo:hi] - discount, 0.0) / total
        return probs

    def forward(self, ids: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities of the next token at every position, and the last ``order - 1`` ids of each row."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, time), got shape {tuple(ids.shape)}")
        batch, steps = ids.shape
        keep = self.order - 1
        if state is None:
            state = torch.full((batch, keep), -1, dtype=torch.long)
        rows = ids.tolist()
        out = np.empty((batch, steps, len(self.vocab)), dtype=np.float64)
        new_state = []
        for b, row in enumerate(rows):
            history = [i for i in state[b].tolist() if i >= 0]
            for t, token in enumerate(row):
                history.append(token)
                if len(history) > keep:
                    del history[: len(history) - keep]
                out[b, t] = self.probabilities(history)
            new_state.append([-1] * (keep - len(history)) + history)
        logits = torch.from_numpy(np.log(out)).to(torch.float32)  # (B, T, V)
        return logits, torch.tensor(new_state, dtype=torch.long).reshape(batch, keep)


def _checked(config: NgramConfig, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``tensors`` if they are a well-formed trie for ``config``, else a :class:`CheckpointError`."""
    order, size = config.order, len(config.vocab)
    parts = ("parent", "token", "count")
    expected = {"discounts"} | {f"order{k}.{part}" for k in range(1, order + 1) for part in parts}
    if set(tensors) != expected:
        missing, extra = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
        raise CheckpointError(f"n-gram tensors do not match config.json: missing {missing[:5]}, unexpected {extra[:5]}")
    discounts = np.asarray(tensors["discounts"])
    if discounts.shape != (order,) or not np.all((discounts >= 0) & (discounts < 1)):
        raise CheckpointError(f"discounts must be {order} numbers in [0, 1)")
    parents = 1
    out = {"discounts": discounts.astype(np.float64)}
    for k in range(1, order + 1):
        parent, token, count = (np.asarray(tensors[f"order{k}.{part}"]) for part in ("parent", "token", "count"))
        if not (parent.ndim == token.ndim == count.ndim == 1 and len(parent) == len(token) == len(count)):
            raise CheckpointError(f"order {k}: parent, token and count must be 1-D and of one length")
        if any(a.dtype.kind not in "iu" for a in (parent, token, count)):
            raise CheckpointError(f"order {k}: tensors must hold integers")
        if len(parent):
            keys = parent.astype(np.int64) * (size + 1) + token
            if parent.min() < 0 or parent.max() >= parents or token.min() < 0 or token.max() >= size:
                raise CheckpointError(f"order {k}: a parent or token is out of range")
            if np.any(np.diff(keys) <= 0) or count.min() < 0:
                raise CheckpointError(f"order {k}: entries must be sorted, distinct, with non-negative counts")
        out.update({f"order{k}.parent": parent, f"order{k}.token": token, f"order{k}.count": count.astype(np.int64)})
        parents = len(parent)
    return out


def train_ngram(pieces: Sequence[Sequence[int]], vocab: Vocab, order: int) -> NgramModel:
    """An order-``order`` model counted over ``pieces`` (lists of ``vocab``'s ids, counted apart)."""
    config = NgramConfig(vocab=vocab.tokens, order=order, unit=vocab.unit)
    return NgramModel(config, count_ngrams(pieces, order, len(vocab)))
