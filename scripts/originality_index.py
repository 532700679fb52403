"""Build the originality index (training text + suffix array) of a checkpoint folder.

Usage: python scripts/originality_index.py TRAINING_TEXT CHECKPOINT_DIR

Writes CHECKPOINT_DIR/originality.safetensors, deterministically (the same text gives the same
bytes). The bundled Shakespeare models were trained on Tiny Shakespeare's ``train.txt`` (their
README cards): their index is built from all of it, the 5% held out for validation included,
so a piece counts as copied if it occurs anywhere in the file the models were given:

    python scripts/originality_index.py /work/shared/data/tinyshakespeare/train.txt checkpoints/shakespeare
    python scripts/originality_index.py /work/shared/data/tinyshakespeare/train.txt checkpoints/shakespeare-word
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from chargen.inference.originality import INDEX_NAME, TrainingTextIndex
from chargen.training.data import read_text

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("training_text")
    parser.add_argument("checkpoint_dir")
    args = parser.parse_args()
    text = read_text(args.training_text)
    path = TrainingTextIndex.build(text).save(Path(args.checkpoint_dir) / INDEX_NAME)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    print(f"{path}: {len(text):,} characters, {path.stat().st_size:,} bytes, sha256 {digest}")
