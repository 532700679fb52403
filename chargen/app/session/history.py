"""What a session training run streamed, gathered in the server process: curves, samples and the best weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the page is served before torch is imported (chargen.app.demo.main)
    import torch

    from chargen.model import CharRNN


@dataclass
class RunHistory:
    """Everything a run streamed, gathered in the server process: curves, samples and the best weights."""

    cell: str = ""
    size: str = ""
    unit: str = "char"
    train: list[list[float]] = field(default_factory=list)
    val: list[list[float]] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    step: int = 0
    elapsed: float = 0.0
    seconds: float = 0.0
    config: dict[str, Any] | None = None
    weights: dict[str, torch.Tensor] | None = None
    done: dict[str, Any] | None = None

    def apply(self, update: dict[str, Any]) -> None:
        """Fold one update of :func:`train_stream` into the history."""
        if update.get("kind") not in ("training", "done"):
            return
        self.cell = update.get("cell", self.cell)
        self.unit = update.get("unit", self.unit)
        self.step = update.get("step", self.step)
        self.elapsed = update.get("elapsed", self.elapsed)
        self.seconds = update.get("seconds", self.seconds)
        self.train.extend(update.get("train") or [])
        self.val.extend(update.get("val") or [])
        if update.get("sample"):
            self.samples.append(update["sample"])
        if update.get("weights") is not None:
            self.weights, self.config = update["weights"], update["config"]
        if update["kind"] == "done":
            self.size = update.get("size", self.size)
            self.done = {k: v for k, v in update.items() if k not in ("weights", "config")}

    @property
    def best_val(self) -> float | None:
        """The lowest validation loss seen (nats per character, word models' too); None before the first evaluation."""
        values = [v for _, v in self.val]
        return min(values) if values else None

    def model(self) -> CharRNN | None:
        """The best model so far, or None when no weights have arrived yet."""
        from chargen.app.session.stream import model_from_weights

        if self.weights is None or self.config is None:
            return None
        return model_from_weights(self.config, self.weights)

    def log_rows(self) -> list[dict[str, Any]]:
        """Rows in ``chargen.training.train``'s log format, for :func:`chargen.training.train.plot_losses`."""
        rows = [{"step": s, "train_loss": v, "val_loss": None} for s, v in self.train]
        rows += [{"step": s, "train_loss": None, "val_loss": v} for s, v in self.val]
        return sorted(rows, key=lambda r: r["step"])


__all__ = ["RunHistory"]
