"""The model card a session model is saved with: the run's figures and samples, and the loss curve beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chargen.model import CharRNN

if TYPE_CHECKING:
    from chargen.app.session.history import RunHistory


def write_card(folder: Path, model: CharRNN, history: RunHistory, label: str) -> None:
    """Write ``README.md`` (a model card with the run's figures and samples) and ``loss.png`` to ``folder``."""
    from chargen.training.train import plot_losses

    rows = history.log_rows()
    if rows:
        plot_losses(rows, folder / "loss.png")
    done = history.done or {}
    best = history.best_val
    shape = f"{model.config.num_layers} x {model.config.hidden_size}, embedding {model.config.embedding_size}"
    best_text = f"{best:.3f}" if best is not None else "none"
    samples = "\n".join(f"- {_card_sample(s)}" for s in history.samples[-6:]) or "- (no sample was taken)"
    words = model.unit == "word"
    level = "word" if words else "character"
    held_out = "5% of the text held out as blocks" + ("; nats per token / characters per token" if words else "")
    vocabulary = (
        f"{len(model.vocab):,} tokens: words and whitespace runs, and all {len(model.vocab.chars)} characters"
        if words
        else f"{len(model.vocab)} characters"
    )
    text = f"""---
library_name: chargen
tags:
  - char-rnn
  - {model.cell}
  - text-generation
pipeline_tag: text-generation
---

# {label} (chargen)

A {level}-level {model.cell.upper()} trained in the chargen app on a visitor's own text.

| | |
|---|---|
| cell | {model.cell} ({shape}) |
| weights | {model.num_parameters():,} |
| vocabulary | {vocabulary} |
| training text | {done.get("chars", "?")} characters |
| steps | {history.step} in {history.elapsed:.0f} s{" (stopped early)" if done.get("stopped_early") else ""} |
| best validation loss | {best_text} nats/char ({held_out}) |

![loss curve](loss.png)

## Samples during training

{samples}

## Use it

```python
import chargen

model = chargen.load_model("path/to/this/folder")  # or "user/repo" once pushed to the Hub
print(chargen.generate(model, "\\n", 300, temperature=0.8).text)
```
"""
    (folder / "README.md").write_text(text, encoding="utf-8")


def _card_sample(sample: str) -> str:
    return "`" + sample.replace("`", "'").replace("\n", " / ")[:200] + "`"


__all__ = ["write_card"]
