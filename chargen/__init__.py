"""chargen: character-level RNN, LSTM and GRU language models you can train, sample and share."""

from chargen.checkpoint import load_checkpoint, save_checkpoint
from chargen.errors import ChargenError, CheckpointError, ConfigError, CorpusError, UnknownCharactersError
from chargen.hub import load_model
from chargen.model import CharRNN, ModelConfig
from chargen.vocab import Vocab

__all__ = [
    "CharRNN",
    "ChargenError",
    "CheckpointError",
    "ConfigError",
    "CorpusError",
    "ModelConfig",
    "UnknownCharactersError",
    "Vocab",
    "load_checkpoint",
    "load_model",
    "save_checkpoint",
]
