"""The step path of an n-gram model: its state is the last ``order - 1`` ids of each row, no network.

:func:`chargen.inference.engine.step_network` hands n-gram models to :class:`NgramNetwork`, so
generation (:mod:`chargen.inference.generate`) runs them like the recurrent models, without the
packed networks of the fast steppers (an n-gram model has no precisions: counts are exact).
What needs a recurrent state (:class:`~chargen.inference.engine.StepperState`: the batching
engine's ``resume``, the layer states Look inside draws) is refused with a :class:`ConfigError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from chargen.errors import ConfigError
from chargen.inference.engine import StepNetwork, Stepper, StepperState
from chargen.ngram import NgramModel

_NO_STATE = "an n-gram model has no recurrent state: its state is the last order - 1 ids of each row"


class NgramStepper(Stepper):
    """Rows of histories; ``logits[B, V]`` are log-probabilities of each row's next token."""

    def __init__(self, model: NgramModel, histories: list[list[int]]):
        self.model = model
        self.histories = histories
        self.logits = self._logits()

    def _logits(self) -> torch.Tensor:
        rows = np.stack([self.model.probabilities(history) for history in self.histories])  # (B, V)
        return torch.from_numpy(np.log(rows)).to(torch.float32)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        keep = self.model.order - 1
        for history, token in zip(self.histories, ids.tolist(), strict=True):
            if keep:
                history.append(token)
                del history[: max(0, len(history) - keep)]  # (a negative stop would cut a short history)
        self.logits = self._logits()
        return self.logits

    def select_rows(self, rows: torch.Tensor | Sequence[int]) -> None:
        index = torch.as_tensor(rows, dtype=torch.long).tolist()
        self.histories = [list(self.histories[i]) for i in index]
        self.logits = self.logits[index].clone()

    def layer_states(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        raise ConfigError(_NO_STATE)

    def state(self, rows: torch.Tensor | Sequence[int] | None = None) -> StepperState:
        raise ConfigError(_NO_STATE)


class NgramNetwork(StepNetwork):
    """What :func:`~chargen.inference.engine.step_network` gives for an n-gram model: steppers over its counts."""

    def __init__(self, model: NgramModel):
        self.model = model
        self.precision = "exact"
        self.layers = 0
        self.hidden = 0
        self.cell = "ngram"
        self.vocab_size = len(model.vocab)

    def start(self, prompt_ids: list[int], batch: int) -> Stepper:
        keep = self.model.order - 1
        history = list(prompt_ids)[max(0, len(prompt_ids) - keep) :] if keep else []
        return NgramStepper(self.model, [list(history) for _ in range(batch)])

    def resume(self, state: StepperState, head_rows: int | None = None) -> Stepper:
        raise ConfigError(_NO_STATE)
