"""The model sizes the Train tab offers, each with the recipe that trains it in minutes on a CPU."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """A model size and the recipe that trains it in minutes on a CPU."""

    name: str
    embedding_size: int
    hidden_size: int
    num_layers: int
    dropout: float
    seq_len: int
    batch_size: int
    lr: float
    eval_every: int
    warmup_steps: int


PRESETS = {
    # ~30-90k weights: hundreds of steps a minute on one CPU thread, words within a minute. 30 s on 200k
    # characters of Shakespeare (one CPU thread on a busy core) reached val 1.73 / 1.76 / 1.70 (gru / lstm / rnn)
    # at lr 2e-2, 1.78 / 1.78 / 1.71 at 1e-2 and 2.18 (gru) at 3e-3.
    "small": Preset("small", 32, 128, 1, 0.0, 64, 32, 2e-2, 25, 20),
    # ~0.1-0.35M weights: ~3x slower steps, better text given a few minutes. (2 x 256 with 100-character
    # windows made 11 steps in 30 s on a CPU core shared with other jobs: too slow for a visitor's budget.)
    "medium": Preset("medium", 64, 256, 1, 0.0, 64, 32, 5e-3, 25, 30),
}
SIZES = tuple(PRESETS)

__all__ = ["PRESETS", "SIZES", "Preset"]
