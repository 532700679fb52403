"""Where models come from: ``chargen.load_model(name)`` for a local checkpoint folder."""

from __future__ import annotations

from pathlib import Path

from chargen.checkpoint import load_checkpoint
from chargen.model import CharRNN


def load_model(name: str | Path) -> CharRNN:
    """Load a model from a local checkpoint folder (config.json + model.safetensors)."""
    return load_checkpoint(name)
