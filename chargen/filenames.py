"""The file names of a checkpoint folder, without importing torch (the app's page and the Hub's names
need them before torch is loaded; :mod:`chargen.checkpoint` re-exports them)."""

from __future__ import annotations

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
