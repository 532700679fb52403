"""chargen: character-level RNN, LSTM and GRU language models you can train, sample and share.

The public names below are imported on first use (PEP 562), so ``import chargen`` (and importing
``chargen.app``, which serves its page before it loads torch) costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "chargen.checkpoint": ("load_checkpoint", "save_checkpoint"),
    "chargen.inference.decoding": ("RepetitionPenalty", "Temperature", "TopK", "TopP", "build_processors"),
    "chargen.errors": ("ChargenError", "CheckpointError", "ConfigError", "CorpusError", "UnknownCharactersError"),
    "chargen.inference.generate": (
        "DEFAULT_PROMPT",
        "MAX_LENGTH",
        "MAX_PROMPT_CHARS",
        "Comparison",
        "Generation",
        "compare",
        "generate",
        "next_char_distribution",
        "next_char_distributions",
        "stream_compare",
    ),
    "chargen.hub": ("HubError", "LoadedModels", "load_model", "load_models", "parse_models_env", "push_checkpoint"),
    "chargen.inference.loops": ("Loop", "find_loop"),
    "chargen.model": ("CharRNN", "ModelConfig"),
    "chargen.inference.settings": ("SamplingSettings",),
    "chargen.vocab": ("Vocab",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "CharRNN",
    "ChargenError",
    "CheckpointError",
    "Comparison",
    "ConfigError",
    "CorpusError",
    "DEFAULT_PROMPT",
    "Generation",
    "HubError",
    "LoadedModels",
    "Loop",
    "MAX_LENGTH",
    "MAX_PROMPT_CHARS",
    "ModelConfig",
    "RepetitionPenalty",
    "SamplingSettings",
    "Temperature",
    "TopK",
    "TopP",
    "UnknownCharactersError",
    "Vocab",
    "build_processors",
    "compare",
    "find_loop",
    "generate",
    "load_checkpoint",
    "load_model",
    "load_models",
    "next_char_distribution",
    "next_char_distributions",
    "parse_models_env",
    "push_checkpoint",
    "save_checkpoint",
    "stream_compare",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'chargen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and editors see: the same names, imported eagerly
    from chargen.checkpoint import load_checkpoint, save_checkpoint
    from chargen.errors import ChargenError, CheckpointError, ConfigError, CorpusError, UnknownCharactersError
    from chargen.hub import HubError, LoadedModels, load_model, load_models, parse_models_env, push_checkpoint
    from chargen.inference.decoding import RepetitionPenalty, Temperature, TopK, TopP, build_processors
    from chargen.inference.generate import (
        DEFAULT_PROMPT,
        MAX_LENGTH,
        MAX_PROMPT_CHARS,
        Comparison,
        Generation,
        compare,
        generate,
        next_char_distribution,
        next_char_distributions,
        stream_compare,
    )
    from chargen.inference.loops import Loop, find_loop
    from chargen.inference.settings import SamplingSettings
    from chargen.model import CharRNN, ModelConfig
    from chargen.vocab import Vocab
