"""The character-level language model: embedding -> RNN / LSTM / GRU -> linear head."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Union

import torch
from torch import nn

from chargen.checks import CELLS  # defined without torch (the app's Train tab needs it first); re-exported
from chargen.errors import ConfigError
from chargen.vocab import UNITS, Vocab

FORMAT_VERSION = 3
"""The newest config.json layout this chargen reads. 1: no ``format_version`` key (chargen before
issue 12); 2: ``format_version``; 3: ``unit`` (word models). Every key added after version 1 has a
default, so every older config.json keeps loading. A config is written with the oldest version
that holds it (a character model's stays 2, so older chargens keep reading it)."""
WORD_UNIT_VERSION = 3
VERSION_1_KEYS = ("vocab", "cell", "embedding_size", "hidden_size", "num_layers", "dropout", "format")
"""The keys every config.json has held since the first release: required. Later keys are optional."""

# An LSTM carries (h, c); RNN and GRU carry h alone. Each tensor is (layers, B, hidden).
State = Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]  # noqa: UP007 (runtime alias, py3.10)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model: the vocabulary, its unit and every hyperparameter."""

    vocab: list[str]
    cell: str = "gru"
    embedding_size: int = 64
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.1
    format: str = field(default="chargen", repr=False)
    format_version: int = field(default=FORMAT_VERSION, repr=False, compare=False)
    unit: str = "char"

    def __post_init__(self) -> None:
        if self.format != "chargen":
            raise ConfigError(f"not a chargen model config (format is {self.format!r})")
        version = self.format_version
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ConfigError(f"format_version must be a positive integer, got {version!r}")
        if version > FORMAT_VERSION:
            raise ConfigError(
                f"written by a newer chargen (format_version {version}); this one reads up to {FORMAT_VERSION}: "
                "upgrade chargen"
            )
        if self.unit not in UNITS:
            raise ConfigError(f"unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if not isinstance(self.vocab, list) or not self.vocab:
            raise ConfigError("vocab must be a non-empty list of tokens")
        try:
            Vocab.from_list(self.vocab, self.unit)
        except ValueError as exc:
            raise ConfigError(f"vocab is invalid: {exc}") from None
        if self.cell not in CELLS:
            raise ConfigError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)):
            raise ConfigError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not (0.0 <= self.dropout < 1.0) or math.isnan(self.dropout):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form written to ``config.json``, in the oldest format version that holds it.

        A character model's has no ``unit`` key and ``format_version`` 2, byte for byte what chargen
        wrote before word models (its digest, and older chargens reading it, are unchanged).
        """
        data = asdict(self)
        if self.unit == "char":
            del data["unit"]
            return {**data, "format_version": 2}
        return {**data, "format_version": WORD_UNIT_VERSION}

    @classmethod
    def from_dict(cls, data: Any) -> ModelConfig:
        """Rebuild a config from ``config.json`` of any format version up to :data:`FORMAT_VERSION`.

        The version-1 keys (:data:`VERSION_1_KEYS`) are required; keys added later take their
        defaults when missing (no ``format_version`` means version 1). Unknown keys, and a
        version newer than this chargen reads, are a :class:`ConfigError`.
        """
        if not isinstance(data, dict):
            raise ConfigError("config must be a JSON object")
        if data.get("format") != "chargen":
            raise ConfigError('not a chargen model config (no "format": "chargen")')
        version = data.get("format_version", 1)
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise ConfigError(
                f"written by a newer chargen (format_version {version}); this one reads up to {FORMAT_VERSION}: "
                "upgrade chargen"
            )
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"config has unknown key(s): {', '.join(extra)}")
        missing = sorted(set(VERSION_1_KEYS) - set(data))
        if missing:
            raise ConfigError(f"config is missing key(s): {', '.join(missing)}")
        return cls(**{**data, "format_version": version})


class CharRNN(nn.Module):
    """A language model over one vocabulary of characters (or words and characters: ``config.unit``).

    ``forward(ids[B, T], state) -> (logits[B, T, V], state)``: feeding a text in pieces with the
    state carried gives the same logits as one pass. Dropout (training only) is applied to the
    embeddings, between recurrent layers and before the output head.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.vocab = Vocab.from_list(config.vocab, config.unit)
        rnn_class = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        self.embedding = nn.Embedding(len(self.vocab), config.embedding_size)
        self.rnn = rnn_class(
            config.embedding_size,
            config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, len(self.vocab))

    @property
    def unit(self) -> str:
        """``"char"`` (one character per step) or ``"word"`` (a word, whitespace run or character per step)."""
        return self.config.unit

    @property
    def cell(self) -> str:
        """``"rnn"``, ``"lstm"`` or ``"gru"``."""
        return self.config.cell

    @property
    def device(self) -> torch.device:
        """The device that holds the weights."""
        return self.head.weight.device

    def num_parameters(self) -> int:
        """How many weights the model has."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits for the next character at every position, and the state after the last one."""
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, time), got shape {tuple(ids.shape)}")
        x = self.drop(self.embedding(ids))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, V)
        return logits, state
