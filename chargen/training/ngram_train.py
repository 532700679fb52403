"""``chargen train --cell ngram``: count the n-grams of the training text, score the held-out text, save.

The run uses the same corpus split as the recurrent models (``--val-scheme``, ``--val-fraction``,
``--val-gap``): the n-grams are counted over the training spans only (none crosses a gap), and
the validation loss is measured on the same held-out rows, so the figures compare. The output
folder gets ``config.json`` + ``model.safetensors`` and a one-row ``log.jsonl``; there is no
training state, so nothing to resume (counting again takes seconds).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from chargen.atomic import write_text_atomic
from chargen.checkpoint import save_checkpoint
from chargen.errors import ConfigError
from chargen.ngram import train_ngram
from chargen.training.evaluate import nll_of_rows
from chargen.training.train import DEFAULT_DEVICE, LOG_NAME, TrainConfig, TrainResult, prepare


def count_run(config: TrainConfig, resume: bool = False) -> TrainResult:
    """Count an order-``config.order`` model over ``config.corpus``'s training spans and save it to ``config.out``."""
    if resume:
        raise ConfigError("an n-gram model is counted in one pass: there is nothing to resume (run it again)")
    if config.unit != "char":
        raise ConfigError("--cell ngram counts characters: use --unit char")
    if config.device not in (None, DEFAULT_DEVICE):
        raise ConfigError("--cell ngram runs on the CPU: leave out --device")
    start = time.monotonic()
    config, corpus, _, _ = prepare(replace(config, max_steps=1), resume=False)
    # Spans are read as slices (the corpus's ids may live in a file read on demand).
    pieces = [np.asarray(corpus.ids[a:b]) for a, b in corpus.train_spans]
    model = train_ngram(pieces, corpus.vocab, config.order)
    # Each held-out block is one row, cut so all rows hold --eval-chars at most, as the recurrent runs do.
    val_loss = math.inf
    if len(corpus.val):
        per_row = max(2, config.eval_chars // len(corpus.val))
        val_loss, _ = nll_of_rows(model, corpus.val[:, :per_row])
    out = Path(config.out)
    save_checkpoint(model, out)
    elapsed = time.monotonic() - start
    row = {
        "step": 0,
        "order": config.order,
        "ngrams": model.num_parameters(),
        "val_loss": round(val_loss, 6) if math.isfinite(val_loss) else None,
        "elapsed": round(elapsed, 2),
    }
    write_text_atomic(out / LOG_NAME, json.dumps(row) + "\n")
    return TrainResult(0, val_loss, val_loss, elapsed, False, out)
