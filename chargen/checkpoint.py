"""Checkpoint folders: ``config.json`` (hyperparameters and vocabulary) + ``model.safetensors``.

Loading is strict: every tensor must be present with the right shape, nothing extra, all
finite. Weights are only ever read with safetensors; nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from chargen.atomic import write_atomic, write_text_atomic
from chargen.errors import ChargenError, CheckpointError
from chargen.model import CharRNN, ModelConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def save_checkpoint(model: CharRNN, folder: str | Path) -> Path:
    """Write ``model`` to ``folder`` (created if needed) as config.json + model.safetensors."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in model.state_dict().items()}
    write_atomic(folder / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    config_text = json.dumps(model.config.to_dict(), ensure_ascii=False, indent=2) + "\n"
    write_text_atomic(folder / CONFIG_NAME, config_text)
    return folder


def read_config(path: str | Path) -> ModelConfig:
    """Parse and validate a ``config.json``; any problem is a :class:`CheckpointError` naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    try:
        return ModelConfig.from_dict(data)
    except (ChargenError, TypeError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a truncated, corrupted or pickled file is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None


def build_model(config: ModelConfig, tensors: dict[str, torch.Tensor], weights_path: str | Path) -> CharRNN:
    """A model from ``config`` holding exactly ``tensors``; any mismatch names the weights file."""
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


def load_checkpoint(folder: str | Path) -> CharRNN:
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
    return build_model(config, read_weights(weights), weights)
