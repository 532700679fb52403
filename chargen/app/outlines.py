"""What the page says about a model before it is loaded: read from its folder without importing torch.

``python app.py`` serves its page first and imports torch and loads the models behind it
(:func:`chargen.app.demo.main`). The page's header and facts need a model's cell, layers, units,
vocabulary and parameter count: ``config.json`` holds the first four and ``model.safetensors``' header
(a JSON table of every tensor's shape, read without its weights) the last. A :class:`ModelOutline`
answers what :mod:`chargen.app.views` asks of a model for those lines, with the same values as the
loaded model; the page's events wait until the models are loaded.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from chargen.checks import CELLS
from chargen.errors import CheckpointError
from chargen.filenames import CONFIG_NAME, WEIGHTS_NAME
from chargen.vocab import UNITS, Vocab

MAX_HEADER_BYTES = 100_000_000
"""The safetensors format's own limit on its JSON header."""


@dataclass(frozen=True)
class ModelOutline:
    """A recurrent model as its folder describes it: what the page's header and facts read of a loaded one."""

    config: SimpleNamespace
    """config.json's keys as attributes (``cell``, ``num_layers``, ``hidden_size``, ``unit``...)."""
    vocab: Vocab
    parameters: int
    """How many numbers ``model.safetensors`` holds: the loaded model's ``num_parameters()``."""

    @property
    def unit(self) -> str:
        return self.config.unit

    @property
    def cell(self) -> str:
        return self.config.cell

    def num_parameters(self) -> int:
        """How many weights the model has."""
        return self.parameters


def read_outline(folder: str | Path) -> ModelOutline:
    """The outline of the recurrent model in checkpoint folder ``folder``. A
    :class:`~chargen.errors.CheckpointError` for anything else (a Hub name, an n-gram model, a folder
    without the two files or with files that can't be read): the app then loads its models first, as
    the loader's notices say best what is wrong."""
    folder = Path(folder)
    try:
        data = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
        parameters = _tensor_sizes(folder / WEIGHTS_NAME)
        config = SimpleNamespace(**{"unit": "char", **data})
        if config.cell not in CELLS or config.unit not in UNITS:
            raise ValueError(f"not a recurrent model's config (cell {config.cell!r}, unit {config.unit!r})")
        vocab = Vocab.from_list(config.vocab, config.unit)
        int(config.num_layers), int(config.hidden_size)  # what the page shows
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{folder}: no outline of its model ({exc})") from None
    return ModelOutline(config=config, vocab=vocab, parameters=parameters)


def _tensor_sizes(path: Path) -> int:
    """The total number of elements of the tensors a safetensors file holds, from its header alone."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        if length > MAX_HEADER_BYTES:
            raise ValueError(f"{path.name}: header of {length} bytes")
        header = json.loads(file.read(length))
    return sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
