"""Checkpoint folders: ``config.json`` (hyperparameters and vocabulary) + ``model.safetensors``.

Loading is strict: every tensor must be present with the right shape, nothing extra, all
finite. Weights are only ever read with safetensors; nothing is unpickled.

The two files are one pair. Each is replaced atomically, config.json first, and the weights
carry a digest of the config they were saved with (:data:`CONFIG_DIGEST_KEY` in their
metadata): a reader, at any instant of a save or after a kill during one, finds the old pair,
the new pair, or a folder it refuses (a config without weights, or weights whose config was
replaced), never a model silently built from halves of two saves.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save_file

from chargen.atomic import write_atomic, write_text_atomic
from chargen.errors import ChargenError, CheckpointError
from chargen.filenames import CONFIG_NAME, PICKLED_SUFFIXES, WEIGHTS_NAME  # noqa: F401 (re-exported)
from chargen.model import CharRNN, ModelConfig
from chargen.ngram import NgramConfig, NgramModel, is_ngram_config

CONFIG_DIGEST_KEY = "chargen_config_sha256"
"""Metadata key of ``model.safetensors``: the digest (:func:`config_digest`) of the config saved with it."""


def config_digest(config: ModelConfig | NgramConfig) -> str:
    """A short SHA-256 of ``config`` in a canonical JSON form (key order and spacing don't matter)."""
    canonical = json.dumps(config.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def save_checkpoint(model: CharRNN | NgramModel, folder: str | Path) -> Path:
    """Write ``model`` to ``folder`` (created if needed) as config.json + model.safetensors.

    config.json is replaced first and the weights last, each atomically, so the weights' rename
    completes the pair; see the module docstring for what a reader can see meanwhile.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(model, NgramModel):  # counts keep their integer types
        tensors = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in model.tensors.items()}
    else:
        tensors = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in model.state_dict().items()}
    metadata = {"format": "pt", CONFIG_DIGEST_KEY: config_digest(model.config)}
    config_text = json.dumps(model.config.to_dict(), ensure_ascii=False, indent=2) + "\n"
    write_text_atomic(folder / CONFIG_NAME, config_text)
    write_atomic(folder / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return folder


def read_config(path: str | Path) -> ModelConfig | NgramConfig:
    """Parse and validate a ``config.json`` (an n-gram model's is an :class:`NgramConfig`); any problem is
    a :class:`CheckpointError` naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    try:
        if is_ngram_config(data):
            return NgramConfig.from_dict(data)
        return ModelConfig.from_dict(data)
    except (ChargenError, TypeError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a truncated, corrupted or pickled file is a :class:`CheckpointError`."""
    return read_weights_and_metadata(path)[0]


def read_weights_and_metadata(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A safetensors file's tensors (on the CPU) and its metadata, from one read of the file.

    One read, so a file replaced meanwhile is seen whole, old or new (``safe_open`` opens the
    path twice). A truncated, corrupted or pickled file is a :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        data = path.read_bytes()
        tensors = load_safetensors_bytes(data)
        header_size = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None
    return tensors, {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}


def check_pair(config: ModelConfig | NgramConfig, metadata: dict[str, Any], weights_path: str | Path) -> None:
    """Refuse weights saved with another config than ``config`` (when they say which: older ones don't)."""
    saved = metadata.get(CONFIG_DIGEST_KEY)
    if saved is not None and saved != config_digest(config):
        raise CheckpointError(
            f"{weights_path}: was saved with a different config.json (a save was interrupted, or config.json "
            "was edited); save the model again"
        )


def build_model(
    config: ModelConfig | NgramConfig, tensors: dict[str, torch.Tensor], weights_path: str | Path
) -> CharRNN | NgramModel:
    """A model from ``config`` holding exactly ``tensors``; any mismatch names the weights file."""
    if isinstance(config, NgramConfig):
        try:
            return NgramModel(config, {name: t.numpy() for name, t in tensors.items()})
        except CheckpointError as exc:
            raise CheckpointError(f"{weights_path}: {exc}") from None
    model = CharRNN(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing tensors {missing[:5]}")
        if extra:
            parts.append(f"unexpected tensors {extra[:5]}")
        raise CheckpointError(f"{weights_path}: does not match config.json: {'; '.join(parts)}")
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{weights_path}: tensor {name} has shape {tuple(tensor.shape)}, config.json implies "
                f"{tuple(expected[name].shape)} (does the vocabulary match the weights?)"
            )
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise CheckpointError(f"{weights_path}: tensor {name} is not finite floating point")
    model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    model.eval()
    return model


def load_checkpoint(folder: str | Path) -> CharRNN | NgramModel:
    """Load a model from a local checkpoint folder, in eval mode on the CPU."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    weights = folder / WEIGHTS_NAME
    if not weights.exists():
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLED_SUFFIXES)
        if pickled:
            raise CheckpointError(
                f"{folder}: holds only pickled weights ({', '.join(pickled)}); chargen loads "
                f"{WEIGHTS_NAME} only and never unpickles"
            )
        raise CheckpointError(f"{folder}: no {WEIGHTS_NAME}")
    config = read_config(folder / CONFIG_NAME)
    tensors, metadata = read_weights_and_metadata(weights)
    model = build_model(config, tensors, weights)
    check_pair(config, metadata, weights)
    return model
