"""chargen: character-level RNN, LSTM and GRU language models you can train, sample and share."""

from chargen.checkpoint import load_checkpoint, save_checkpoint
from chargen.errors import ChargenError, CheckpointError, ConfigError, CorpusError, UnknownCharactersError
from chargen.hub import HubError, LoadedModels, load_model, load_models, parse_models_env, push_checkpoint
from chargen.model import CharRNN, ModelConfig
from chargen.vocab import Vocab

__all__ = [
    "CharRNN",
    "ChargenError",
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "HubError",
    "ModelConfig",
    "LoadedModels",
    "UnknownCharactersError",
    "Vocab",
    "load_checkpoint",
    "load_model",
    "load_models",
    "parse_models_env",
    "push_checkpoint",
    "save_checkpoint",
]
