"""chargen: character-level RNN, LSTM and GRU language models you can train, sample and share."""

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

__all__ = [
    "CharRNN",
    "ChargenError",
    "CheckpointError",
    "ConfigError",
    "Comparison",
    "CorpusError",
    "HubError",
    "DEFAULT_PROMPT",
    "Generation",
    "Loop",
    "MAX_LENGTH",
    "MAX_PROMPT_CHARS",
    "ModelConfig",
    "LoadedModels",
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
