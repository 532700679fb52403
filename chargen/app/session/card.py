"""The model card a session model is saved with: the run's figures and samples in chargen's one card
template (:mod:`chargen.card`), and the loss curve beside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chargen.card import CardContent, write_model_card
from chargen.hub import PLOT_NAME

if TYPE_CHECKING:
    from chargen.app.session.history import RunHistory
    from chargen.model import CharRNN

CARD_SAMPLES = 6
"""The newest samples a card lists."""


def card_content(model: CharRNN, history: RunHistory, label: str, loss_curve: bool = True) -> CardContent:
    """What the card of a model trained in the app says: its shape, vocabulary, training figures and samples."""
    done = history.done or {}
    best = history.best_val
    shape = f"{model.config.num_layers} x {model.config.hidden_size}, embedding {model.config.embedding_size}"
    best_text = f"{best:.3f}" if best is not None else "none"
    samples = "\n".join(f"- {_card_sample(s)}" for s in history.samples[-CARD_SAMPLES:]) or "- (no sample was taken)"
    words = model.unit == "word"
    level = "word" if words else "character"
    held_out = "5% of the text held out as blocks" + ("; nats per token / characters per token" if words else "")
    vocabulary = (
        f"{len(model.vocab):,} tokens: words and whitespace runs, and all {len(model.vocab.chars)} characters"
        if words
        else f"{len(model.vocab)} characters"
    )
    stopped = " (stopped early)" if done.get("stopped_early") else ""
    return CardContent(
        title=label,
        summary=f"A {level}-level {model.cell.upper()} trained in the chargen app on a visitor's own text.",
        facts=(
            ("cell", f"{model.cell} ({shape})"),
            ("weights", f"{model.num_parameters():,}"),
            ("vocabulary", vocabulary),
            ("training text", f"{done.get('chars', '?')} characters"),
            ("steps", f"{history.step} in {history.elapsed:.0f} s{stopped}"),
            ("best validation loss", f"{best_text} nats/char ({held_out})"),
        ),
        sections=(("Samples during training", samples),),
        loss_curve=loss_curve,
    )


def write_card(folder: Path, model: CharRNN, history: RunHistory, label: str) -> None:
    """Write ``README.md`` (a model card with the run's figures and samples) and ``loss.png`` to ``folder``."""
    from chargen.training.train import plot_losses

    rows = history.log_rows()
    if rows:
        plot_losses(rows, folder / PLOT_NAME, dropout=model.config.dropout)
    write_model_card(folder, model, card_content(model, history, label, loss_curve=bool(rows)))


def _card_sample(sample: str) -> str:
    return "`" + sample.replace("`", "'").replace("\n", " / ")[:200] + "`"


__all__ = ["card_content", "write_card"]
