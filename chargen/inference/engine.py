"""The step engine: a model's recurrent state over a batch of rows, stepped one character at a time.

:func:`start_stepper` primes ``batch`` rows with a prompt and returns a :class:`Stepper`;
``stepper.step(ids[B])`` feeds one character per row and returns the next logits. Which network
steps is a precision (:data:`PRECISIONS`): the model's own ``forward`` (``exact``), or the
fast stepper on weights packed once per model in fp32, fp16 or int8 and cached until the
weights change. :mod:`chargen.inference.generate` turns steps into text; this module knows nothing of
sampling.

Code that steps rows of its own (the batching engine, beam search, the cells view) uses the
public side only: :func:`step_network` (the packed network, to :meth:`~StepNetwork.start` from a
prompt, :meth:`~StepNetwork.prime` many prompts at once, or :meth:`~StepNetwork.resume` from a
:class:`StepperState`), and a stepper's :meth:`~Stepper.layer_states`, :meth:`~Stepper.state` and
:meth:`~Stepper.select_rows`.
"""

from __future__ import annotations

import copy
import functools
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from chargen.errors import ConfigError
from chargen.model import CharRNN, State

_T = TypeVar("_T")

# A step of the model's own ``forward`` (nn.LSTM through oneDNN) costs 1-3 ms on this 2-core
# CPU, mostly per-call overhead. The fast stepper packs the weights once per model (cached
# until they change) and runs a step as a handful of ops on preallocated buffers: layer 0's
# input projection is a lookup table (embedding @ W_ih^T + biases, exact in eval mode), and
# LSTM / RNN layers above it do one matrix product over [input, hidden]. What remains is
# reading the recurrent matrices once per step (13 MB in fp32 for a 2x512 LSTM), so storing
# them in fewer bits is what pays: fbgemm's fp16 GEMM (sums in fp32) and its int8 GEMM.
# benchmarks/bench_generate.py measures all of them against the lesson's loops.

INT8_HEAD_MIN_TOKENS = 256
"""``int8`` quantises the output head of a model with more tokens than this (a word model)."""

PRECISIONS = ("auto", "exact", "fp32", "fp16", "int8")
"""Which network runs a generation.

- ``exact``: the model's own ``forward``, one call per step: the reference, and slow.
- ``fp32``: the fast stepper on the same fp32 weights (same maths, rounding-level differences).
- ``fp16``: the recurrent matrices stored in fp16; activations, sums, the lookup table and the
  output head stay fp32. It computes exactly the plain model whose recurrent matrices are
  rounded to fp16 (:func:`reference_model`).
- ``int8``: the recurrent matrices in int8 (one scale per row) and their inputs, hidden states
  in (-1, 1), quantised to 7 bits with one fixed scale, so rows never affect each other; the
  head stays fp32, except over more than :data:`INT8_HEAD_MIN_TOKENS` tokens (a word model),
  where it is most of a step and is quantised the same way. The fastest here (~1.3x fp16 per step).
- ``auto``: on the CPU the fastest that works with this torch (``int8``, else ``fp16``, else
  ``fp32``); off the CPU ``exact``.

Priming (:meth:`StepNetwork.start`): ``int8`` steps its own network over the prompt, one character
at a time from the zero state (as ``nn.LSTM`` starts), the output head only after the last one; its
rows never affect each other, so many prompts primed together (:meth:`StepNetwork.prime`) give each
exactly the state it gets alone. ``fp32`` and ``fp16`` prime in one forward call of
:func:`reference_model` (their GEMMs round a row differently at other batch sizes, so stepping them
together would not be exact), ``exact`` in one call of the model's own ``forward``.
Greedy is always the argmax of the logits of the network that steps. On the bundled
Shakespeare LSTM, fp16 and int8 move the held-out loss by less than 0.001 nats (the benchmark
prints it; the bar for keeping them was 0.01).
"""


@dataclass(frozen=True)
class StepperState:
    """A copy of some rows of a stepper: everything a stepper needs to carry them on.

    Rows come first, so choosing rows and joining states are one op on dimension 0 (a stepper
    made from a state owns copies of its tensors; the state itself is never written).

    Args:
        hidden: ``(B, layers, H)``, every layer's hidden state of each row.
        cell: ``(B, layers, H)``, an LSTM's cell states; ``None`` for a GRU or RNN.
        logits: ``(B, V)``, the scores of each row's next character (token).
    """

    hidden: torch.Tensor
    cell: torch.Tensor | None
    logits: torch.Tensor

    @property
    def batch(self) -> int:
        """How many rows the state holds."""
        return self.hidden.shape[0]

    def select_rows(self, rows: torch.Tensor | Sequence[int]) -> StepperState:
        """The state whose row ``i`` is a copy of row ``rows[i]`` of this one (rows may repeat or be left out)."""
        index = torch.as_tensor(rows, dtype=torch.long).to(self.hidden.device)
        return StepperState(
            hidden=self.hidden.index_select(0, index),
            cell=None if self.cell is None else self.cell.index_select(0, index),
            logits=self.logits.index_select(0, index.to(self.logits.device)),
        )

    @staticmethod
    def concat(states: Sequence[StepperState]) -> StepperState:
        """The rows of ``states``, one after the other, in one state (all LSTM states, or none)."""
        if not states:
            raise ConfigError("concat needs at least one state")
        cells = [state.cell for state in states]
        if any(cell is None for cell in cells) and not all(cell is None for cell in cells):
            raise ConfigError("cannot join states with cell states (LSTM) and states without")
        return StepperState(
            hidden=torch.cat([state.hidden for state in states]),
            cell=None if cells[0] is None else torch.cat(cells),  # type: ignore[arg-type]
            logits=torch.cat([state.logits for state in states]),
        )


class Stepper:
    """One generation's recurrent state over a batch of rows.

    ``logits[B, V]`` scores the next character of each row; ``step(ids[B])`` feeds one
    character per row and returns the new logits. Make one with :func:`start_stepper`, or from a
    :class:`StepNetwork` (``start`` primes a prompt, ``resume`` carries on a :class:`StepperState`).
    """

    logits: torch.Tensor

    @property
    def batch(self) -> int:
        """How many rows the stepper holds."""
        return self.logits.shape[0]

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed ``ids[B]`` (one per row); return the new ``logits[B, V]`` (a buffer the next step may overwrite)."""
        raise NotImplementedError

    def layer_states(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Every layer's hidden state and (LSTM only, else an empty list) cell state, each ``(B, H)``.

        Not copies: they show the state the stepper holds now (and may change as it steps).
        """
        raise NotImplementedError

    def state(self, rows: torch.Tensor | Sequence[int] | None = None) -> StepperState:
        """A copy of the state of ``rows`` (every row when ``None``), in order, repeats allowed."""
        raise NotImplementedError

    def select_rows(self, rows: torch.Tensor | Sequence[int]) -> None:
        """Keep ``rows`` only, in place: row ``i`` becomes (a copy of) row ``rows[i]``, logits included.

        Stepping the result is stepping those rows alone; ``len(rows)`` may differ from the batch.
        """
        raise NotImplementedError


def _row_index(rows: torch.Tensor | Sequence[int], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(rows, dtype=torch.long).to(device)


def _checked_prompt(prompt_ids: Sequence[int]) -> list[int]:
    """``prompt_ids`` as a list, refused when empty: a network is primed with at least one id.

    (Generation never sends an empty prompt: :func:`chargen.inference.generate.prepare_prompt`
    falls back to ``DEFAULT_PROMPT``.)
    """
    ids = list(prompt_ids)
    if not ids:
        raise ConfigError("a prompt to prime needs at least one id (generation starts an empty prompt at a line break)")
    return ids


class _ReferenceStepper(Stepper):
    """The model's own ``forward``, one call per step, on an ``nn.LSTM`` / GRU / RNN state ``(layers, B, H)``."""

    def __init__(self, model: CharRNN, state: State, logits: torch.Tensor):
        self.model = model
        self.nn_state: State = state
        self.logits = logits  # (B, V)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        logits, self.nn_state = self.model(ids[:, None], self.nn_state)  # (B, 1, V)
        self.logits = logits[:, 0]
        return self.logits

    def _hidden_and_cell(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        state = self.nn_state
        return state if isinstance(state, tuple) else (state, None)  # type: ignore[return-value]

    def layer_states(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        hidden, cell = self._hidden_and_cell()
        return list(hidden), [] if cell is None else list(cell)

    def state(self, rows: torch.Tensor | Sequence[int] | None = None) -> StepperState:
        hidden, cell = self._hidden_and_cell()
        index = None if rows is None else _row_index(rows, hidden.device)

        def rows_of(tensor: torch.Tensor) -> torch.Tensor:  # (layers, B, H) -> (B', layers, H), a copy
            rows_first = tensor.transpose(0, 1)
            return (
                rows_first.clone(memory_format=torch.contiguous_format)
                if index is None
                else rows_first.index_select(0, index)
            )

        logits = self.logits.clone() if index is None else self.logits.index_select(0, index)
        return StepperState(rows_of(hidden), None if cell is None else rows_of(cell), logits)

    def select_rows(self, rows: torch.Tensor | Sequence[int]) -> None:
        index = _row_index(rows, self.logits.device)
        state = self.nn_state
        self.nn_state = tuple(s[:, index] for s in state) if isinstance(state, tuple) else state[:, index]
        self.logits = self.logits[index]


# Hidden states, in (-1, 1), become uint8 codes 0..127 (steps of 1/63, covering [-1.016, 1]).
# Only 7 bits: fbgemm's AVX2 kernel sums pairs of uint8 x int8 products in int16, which
# saturates with full 8-bit inputs (measured: errors ~8x larger); with 7 bits its result is
# exactly the quantised maths (see tests/test_generate.py).
_INT8_INPUT_SCALE = 1.0 / 63.0
_INT8_INPUT_ZERO_POINT = 64


class _Linear:
    """``x[B, in] -> x @ W^T + b`` over fixed weights, packed once in the precision that runs it."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, precision: str):
        weight, bias = weight.detach().float().contiguous(), bias.detach().float().contiguous()
        self.precision = precision
        self.bias = bias
        with warnings.catch_warnings():
            # The quantized ops warn that they are deprecated; they are only used when present.
            warnings.simplefilter("ignore")
            if precision == "fp16":
                self.packed = torch.ops.quantized.linear_prepack_fp16(weight, bias)
            elif precision == "int8":
                # Symmetric, one scale per output row: the usual choice for weights.
                scale = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12).double()
                zero = torch.zeros(weight.shape[0], dtype=torch.long)
                qweight = torch.quantize_per_channel(weight, scale, zero, 0, torch.qint8)
                self.packed = torch.ops.quantized.linear_prepack(qweight, bias)
            else:
                self.weight_t = weight.t().contiguous()  # (in, out), as addmm reads it

    def into(self, x: torch.Tensor, out: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """Write ``x @ W^T + b`` (plus ``add`` when given) into ``out`` and return it."""
        if self.precision == "fp16":
            product = torch.ops.quantized.linear_dynamic_fp16(x, self.packed)
        elif self.precision == "int8":
            # Every input here is a hidden state in (-1, 1), so one fixed scale serves: unlike
            # dynamic quantisation (one scale per call, from the whole batch), a row's result
            # does not depend on the other rows, so the greedy row can't feel the sampled one.
            product = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
                x, _INT8_INPUT_SCALE, _INT8_INPUT_ZERO_POINT, self.packed
            )
        else:
            return torch.addmm(self.bias if add is None else add + self.bias, x, self.weight_t, out=out)
        return torch.add(product, add, out=out) if add is not None else out.copy_(product)


def _gate_order(cell: str, hidden: int) -> torch.Tensor:
    """Row order that puts an LSTM's sigmoid gates (i, f, o) before its tanh gate (g)."""
    if cell != "lstm":
        return torch.arange(_GATES[cell] * hidden)
    i, f, g, o = torch.arange(4 * hidden).split(hidden)
    return torch.cat([i, f, o, g])


_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class StepNetwork:
    """The network that one precision steps, built once per model (:func:`step_network`); its steppers share it.

    ``start`` primes rows with a prompt; ``prime`` primes many prompts at once; ``resume`` carries
    rows on from a :class:`StepperState` (rows from different prompts, each with its own state).
    ``precision`` is resolved (never ``auto``).
    """

    precision: str
    layers: int
    hidden: int
    cell: str
    vocab_size: int
    primes_by_stepping: bool = False
    """True where ``start`` primes by stepping this network over the prompt (``int8``), so a prompt
    read by stepping its characters one by one gives exactly the primed state and logits; False where
    it primes in one forward call (``exact``, ``fp32``, ``fp16``)."""

    def start(self, prompt_ids: list[int], batch: int) -> Stepper:
        """Prime ``batch`` rows with ``prompt_ids`` (at least one id); every row starts from the same state.

        The state does not depend on ``batch``: it is the state of one row, repeated. How a
        precision primes: :data:`PRECISIONS`. Call it, and step the result, under ``torch.inference_mode()``.
        """
        raise NotImplementedError

    def prime(self, prompts: Sequence[Sequence[int]]) -> list[StepperState]:
        """The primed state of each prompt, in order: one row each, exactly ``start(prompt, 1).state()``.

        Bit for bit, whatever the other prompts: ``int8`` steps the prompts together (rows sorted by
        length, longest first, so the rows still priming are a prefix that shrinks; each row's output
        head runs alone when its prompt ends), which costs a fraction of priming each alone (on the
        bundled 2x512 LSTM ~0.8 ms of CPU per prompt from 100 prompts, ~4 ms alone: docs/benchmarks.md).
        The other precisions, and models whose hidden size is not a multiple of 16 (whose elementwise
        kernels round a row differently at other batch sizes), prime one prompt at a time. Join the states with
        :meth:`StepperState.concat` (``select_rows([0, 0])`` gives a prompt's pair of rows) and
        :meth:`resume` them. Every prompt needs at least one id. Call it under ``torch.inference_mode()``.
        """
        return [self.start(_checked_prompt(prompt), 1).state() for prompt in prompts]

    def resume(self, state: StepperState, head_rows: int | None = None) -> Stepper:
        """A stepper holding (copies of) ``state``'s rows.

        ``head_rows`` (fast precisions only): run the output head over groups of that many rows,
        each into its own buffer, so each group's logits are exactly those of a batch of
        ``head_rows`` (fp32 GEMMs round differently at other batch sizes and output alignments);
        ``None`` runs it once over the whole batch.
        """
        raise NotImplementedError

    def _check_state(self, state: StepperState) -> None:
        if not isinstance(state, StepperState):
            raise ConfigError(f"state must be a StepperState, got {type(state).__name__}")
        batch = state.batch
        want = (batch, self.layers, self.hidden)
        if tuple(state.hidden.shape) != want:
            raise ConfigError(f"state.hidden must have shape {want} for this model, got {tuple(state.hidden.shape)}")
        if (state.cell is None) != (self.cell != "lstm"):
            raise ConfigError(f"state.cell must be {'given' if self.cell == 'lstm' else 'None'} for a {self.cell}")
        if state.cell is not None and tuple(state.cell.shape) != want:
            raise ConfigError(f"state.cell must have shape {want} for this model, got {tuple(state.cell.shape)}")
        if tuple(state.logits.shape) != (batch, self.vocab_size):
            got = tuple(state.logits.shape)
            raise ConfigError(f"state.logits must have shape {(batch, self.vocab_size)} for this model, got {got}")


class _ReferenceNetwork(StepNetwork):
    """The model's own ``forward`` (precision ``exact``), on an eval-mode copy (:func:`reference_model`)."""

    def __init__(self, model: CharRNN):
        self.model = model
        self.precision = "exact"
        self.layers, self.hidden = model.rnn.num_layers, model.rnn.hidden_size
        self.cell, self.vocab_size = model.cell, len(model.vocab)

    def start(self, prompt_ids: list[int], batch: int) -> Stepper:
        model = self.model
        ids = torch.tensor([_checked_prompt(prompt_ids)], dtype=torch.long, device=model.device)
        logits, state = model(ids, None)  # (1, T, V)
        # Every row starts from the same primed state.
        if isinstance(state, tuple):
            repeated: State = tuple(s.repeat(1, batch, 1) for s in state)
        else:
            repeated = state.repeat(1, batch, 1)  # (layers, B, H)
        return _ReferenceStepper(model, repeated, logits[:, -1].repeat(batch, 1))  # logits (B, V)

    def resume(self, state: StepperState, head_rows: int | None = None) -> Stepper:
        self._check_state(state)
        if head_rows is not None:
            raise ConfigError("head_rows applies to the fast precisions (fp32, fp16, int8), not to exact")
        device = self.model.device

        def layers_first(tensor: torch.Tensor) -> torch.Tensor:  # (B, layers, H) -> (layers, B, H), a copy
            return tensor.to(device).transpose(0, 1).clone(memory_format=torch.contiguous_format)

        hidden = layers_first(state.hidden)
        nn_state: State = hidden if state.cell is None else (hidden, layers_first(state.cell))
        return _ReferenceStepper(self.model, nn_state, state.logits.to(device).clone())


class _PackedNetwork(StepNetwork):
    """A model's weights laid out for :class:`_FastStepper`, in one precision."""

    def __init__(self, model: CharRNN, precision: str):
        rnn = model.rnn
        self.cell = model.cell
        self.precision = precision
        self.hidden = hidden = rnn.hidden_size
        self.layers = rnn.num_layers
        self.vocab_size = len(model.vocab)
        # int8 primes by stepping itself (its rows never affect each other, so prompts prime together);
        # fp32 / fp16 run the reference network for their precision in one forward call.
        self.primes_by_stepping = precision == "int8"
        self.reference = reference_model(model, precision)
        order = _gate_order(self.cell, hidden)
        weights = [
            {
                name: getattr(rnn, f"{name}_l{layer}").detach()[order]
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
            for layer in range(self.layers)
        ]
        first = weights[0]
        table = model.embedding.weight.detach() @ first["weight_ih"].T + first["bias_ih"]  # (V, G*H)
        hidden_bias = first["bias_hh"]
        if self.cell != "gru":
            # A GRU's b_hh is scaled by its reset gate, so only the other cells fold it in.
            table, hidden_bias = table + first["bias_hh"], torch.zeros_like(hidden_bias)
        self.table = table.contiguous()
        self.first_hidden = _Linear(first["weight_hh"], hidden_bias, precision)
        self.fused: list[_Linear] = []  # LSTM / RNN layers >= 1: one product over [input, hidden]
        self.inputs: list[_Linear] = []  # GRU layers >= 1: input and hidden products kept apart
        self.hiddens: list[_Linear] = []
        for w in weights[1:]:
            if self.cell == "gru":
                self.inputs.append(_Linear(w["weight_ih"], w["bias_ih"], precision))
                self.hiddens.append(_Linear(w["weight_hh"], w["bias_hh"], precision))
            else:
                both = torch.cat([w["weight_ih"], w["weight_hh"]], dim=1)  # (G*H, H + H)
                self.fused.append(_Linear(both, w["bias_ih"] + w["bias_hh"], precision))
        head = model.head
        # The head is int8 too only where it is most of a step: a vocabulary of more than
        # INT8_HEAD_MIN_TOKENS (a word model's 4,000 tokens: 4x the bytes of a 2x512 LSTM's
        # recurrent matrices). A character model's small head stays fp32, its texts unchanged.
        int8_head = precision == "int8" and head.out_features > INT8_HEAD_MIN_TOKENS
        self.head = _Linear(head.weight, head.bias, "int8" if int8_head else "fp32")

    def start(self, prompt_ids: list[int], batch: int) -> Stepper:
        size, layers = self.hidden, self.layers
        prompt_ids = _checked_prompt(prompt_ids)
        if self.primes_by_stepping:
            # Every row starts from the same primed state: one row's, repeated.
            return self.resume(self._stepped_states([prompt_ids])[0].select_rows([0] * batch))
        logits, state = self.reference(torch.tensor([prompt_ids], dtype=torch.long), None)  # (1, T, V)
        h, c = state if isinstance(state, tuple) else (state, None)
        # Every row starts from the same primed state.
        hidden = h[:, 0].reshape(1, layers * size).repeat(batch, 1)  # (B, layers * H)
        cells = [c[layer].repeat(batch, 1) for layer in range(layers)] if c is not None else []
        return _FastStepper(self, hidden, cells, logits[:, -1].repeat(batch, 1))  # logits (B, V)

    def prime(self, prompts: Sequence[Sequence[int]]) -> list[StepperState]:
        prompts = [_checked_prompt(prompt) for prompt in prompts]
        if not self.primes_by_stepping:
            return super().prime(prompts)
        if self.hidden % 16:
            # Elementwise kernels put a row's last values in their scalar tail at some batch sizes
            # and not others (as the batching engine knows): such a model primes one prompt at a time.
            return [state for prompt in prompts for state in self._stepped_states([prompt])]
        return self._stepped_states(prompts)

    def _stepped_states(self, prompts: list[list[int]]) -> list[StepperState]:
        """Each prompt's state (one row), in order, from stepping this network over the prompts together.

        From the zero state, one character per step, the head skipped until a row's last character.
        Rows are sorted by length, longest first, so the rows still priming are always a prefix of the
        buffers: stepping fewer rows is stepping a view of them, nothing copied.
        """
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))  # stable: ties keep their order
        lengths = [len(prompts[i]) for i in order]
        rows, size, layers = len(order), self.hidden, self.layers
        ids = torch.zeros(lengths[0] if rows else 0, rows, dtype=torch.long)  # (T, rows): step t's ids
        for row, i in enumerate(order):
            ids[: lengths[row], row] = torch.tensor(prompts[i], dtype=torch.long)
        hidden = torch.zeros(rows, layers * size)
        cells = [torch.zeros(rows, size) for _ in range(layers)] if self.cell == "lstm" else []
        logits = torch.empty(rows, self.vocab_size)  # never written: the head runs per row, below
        stepper = _FastStepper(self, hidden, cells, logits)
        states: list[StepperState | None] = [None] * rows
        active = rows
        for t in range(ids.shape[0]):
            stepper.advance(ids[t, :active])
            ending = active
            while ending > 0 and lengths[ending - 1] == t + 1:
                ending -= 1
            for row in range(ending, active):
                states[order[row]] = self._row_state(hidden, cells, row)
            if 0 < ending < active:
                active = ending
                stepper._hold(hidden[:active], [cell[:active] for cell in cells], logits[:active])
        return states  # type: ignore[return-value]

    def _row_state(self, hidden: torch.Tensor, cells: list[torch.Tensor], row: int) -> StepperState:
        """One row's state, its logits from the head at batch 1, laid out as a stepper of one row holds it.

        (A fresh ``(1, layers * H)`` buffer and a fresh ``(1, V)`` output: the head's fp32 GEMM then
        rounds exactly as in a batch-1 stepper's step.)
        """
        size, layers = self.hidden, self.layers
        one = torch.empty(1, layers * size).copy_(hidden[row : row + 1])
        logits = self.head_into(one[:, (layers - 1) * size :], torch.empty(1, self.vocab_size))
        cell = torch.stack([c[row] for c in cells])[None] if cells else None  # (1, layers, H)
        return StepperState(one.view(1, layers, size), cell, logits)

    def resume(self, state: StepperState, head_rows: int | None = None) -> Stepper:
        self._check_state(state)
        batch, size, layers = state.batch, self.hidden, self.layers
        # Fresh buffers the stepper owns (the state is never written).
        hidden = torch.empty(batch, layers * size)
        hidden.view(batch, layers, size).copy_(state.hidden)
        cells = (
            [torch.empty(batch, size).copy_(state.cell[:, layer]) for layer in range(layers)]
            if state.cell is not None
            else []
        )
        logits = torch.empty(batch, self.vocab_size).copy_(state.logits)
        return _FastStepper(self, hidden, cells, logits, head_rows)

    def head_into(self, last_hidden: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The logits of ``last_hidden[B, H]`` (the top layer's states), written into ``out[B, V]``."""
        return self.head.into(last_hidden, out)


class _FastStepper(Stepper):
    """Steps a :class:`_PackedNetwork` on buffers (and views of them) made for its batch.

    All layers' hidden states sit side by side in one ``(B, layers * H)`` buffer, so the input
    of layer ``l >= 1``, ``[h[l-1], h[l]]``, is a view and needs no concatenation. ``step``
    returns the ``logits`` buffer, which the next step overwrites.
    """

    def __init__(
        self,
        net: _PackedNetwork,
        hidden: torch.Tensor,
        cells: list[torch.Tensor],
        logits: torch.Tensor,
        head_rows: int | None = None,
    ):
        if head_rows is not None and (isinstance(head_rows, bool) or not isinstance(head_rows, int) or head_rows < 1):
            raise ConfigError(f"head_rows must be a whole number of at least 1, or None; got {head_rows!r}")
        self.net = net
        self.head_rows = head_rows
        # The class's function, not a bound method: a stepper holding its own bound method would be a
        # reference cycle, freed only by the garbage collector (a server makes one per regroup).
        self._layer_of_cell = _FAST_LAYERS[net.cell]
        self._hold(hidden, cells, logits)

    def _hold(self, hidden: torch.Tensor, cells: list[torch.Tensor], logits: torch.Tensor) -> None:
        """Hold these tensors (owned from now on) as the rows' state, with work buffers for their batch."""
        net = self.net
        size, layers, gates = net.hidden, net.layers, _GATES[net.cell] * net.hidden
        batch = hidden.shape[0]
        if self.head_rows is not None and batch % self.head_rows:
            raise ConfigError(f"a batch of {batch} rows is not made of groups of head_rows={self.head_rows}")
        self.hidden = hidden  # (B, layers * H)
        self.h = [hidden[:, layer * size : (layer + 1) * size] for layer in range(layers)]
        self.inputs = [hidden[:, (layer - 1) * size : (layer + 1) * size] for layer in range(1, layers)]
        self.c = cells
        self.x_gates = torch.empty(batch, gates)  # layer 0's input projection, looked up
        self.gates = [torch.empty(batch, gates) for _ in range(layers)]
        if net.cell == "lstm":
            # Gate rows were reordered to i, f, o | g: one sigmoid and one tanh call per layer.
            self.sigmoid_part = [g[:, : 3 * size] for g in self.gates]
            self.tanh_part = [g[:, 3 * size :] for g in self.gates]
            self.split = [g.split(size, dim=1) for g in self.gates]
        elif net.cell == "gru":
            self.hidden_gates = [torch.empty(batch, gates) for _ in range(layers)]
            self.reset_update = [torch.empty(batch, 2 * size) for _ in range(layers)]
            self.new = [torch.empty(batch, size) for _ in range(layers)]
        self.logits = logits  # (B, V)
        if self.head_rows is not None:
            # Each group's head reads its rows of the top layer and writes its own (fresh) buffer.
            rows = self.head_rows
            self._head_inputs = [self.h[-1][start : start + rows] for start in range(0, batch, rows)]
            self._head_outputs = [torch.empty(rows, logits.shape[1]) for _ in self._head_inputs]

    def advance(self, ids: torch.Tensor) -> None:
        """Feed ``ids[B]`` through the recurrent layers only: the state moves on, the logits do not (priming)."""
        torch.index_select(self.net.table, 0, ids, out=self.x_gates)
        for layer in range(self.net.layers):
            self._layer_of_cell(self, layer)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        net = self.net
        self.advance(ids)
        if self.head_rows is None:
            return net.head_into(self.h[-1], self.logits)  # (B, V)
        for last, out in zip(self._head_inputs, self._head_outputs, strict=True):
            net.head_into(last, out)  # (head_rows, V)
        return torch.cat(self._head_outputs, out=self.logits)  # (B, V)

    def layer_states(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        return list(self.h), list(self.c)

    def state(self, rows: torch.Tensor | Sequence[int] | None = None) -> StepperState:
        index = None if rows is None else _row_index(rows, self.hidden.device)

        def rows_of(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.clone() if index is None else tensor.index_select(0, index)

        hidden = rows_of(self.hidden)
        batch, layers, size = hidden.shape[0], self.net.layers, self.net.hidden
        cell = torch.stack([rows_of(c) for c in self.c], dim=1) if self.c else None  # (B, layers, H)
        return StepperState(hidden.view(batch, layers, size), cell, rows_of(self.logits))

    def select_rows(self, rows: torch.Tensor | Sequence[int]) -> None:
        index = _row_index(rows, self.hidden.device)
        if len(index) == self.batch:  # the same batch: rows copied in place, the buffers kept
            self.hidden.copy_(self.hidden[index])  # the layers' h are views of this buffer
            for cell in self.c:
                cell.copy_(cell[index])
            self.logits.copy_(self.logits[index])
        else:
            self._hold(self.hidden[index], [cell[index] for cell in self.c], self.logits[index])

    def _pre_activation(self, layer: int) -> torch.Tensor:
        """LSTM / RNN gate sums (input and hidden projections, biases) in ``gates[layer]``."""
        if layer == 0:
            return self.net.first_hidden.into(self.h[0], self.gates[0], add=self.x_gates)
        return self.net.fused[layer - 1].into(self.inputs[layer - 1], self.gates[layer])

    def _lstm_layer(self, layer: int) -> None:
        self._pre_activation(layer)
        self.sigmoid_part[layer].sigmoid_()
        self.tanh_part[layer].tanh_()
        in_gate, forget, out_gate, candidate = self.split[layer]
        cell = self.c[layer].mul_(forget).addcmul_(in_gate, candidate)
        torch.tanh(cell, out=self.h[layer]).mul_(out_gate)

    def _rnn_layer(self, layer: int) -> None:
        torch.tanh(self._pre_activation(layer), out=self.h[layer])

    def _gru_layer(self, layer: int) -> None:
        net, size, h = self.net, self.net.hidden, self.h[layer]
        if layer == 0:
            gi = self.x_gates  # (B, 3H) as r, z, n
            gh = net.first_hidden.into(h, self.hidden_gates[0])
        else:
            gi = net.inputs[layer - 1].into(self.h[layer - 1], self.gates[layer])
            gh = net.hiddens[layer - 1].into(h, self.hidden_gates[layer])
        reset_update = torch.add(gi[:, : 2 * size], gh[:, : 2 * size], out=self.reset_update[layer]).sigmoid_()
        reset, update = reset_update[:, :size], reset_update[:, size:]
        new = torch.addcmul(gi[:, 2 * size :], reset, gh[:, 2 * size :], out=self.new[layer]).tanh_()
        h.sub_(new).mul_(update).add_(new)  # h' = (1 - z) * n + z * h


_FAST_LAYERS = {"lstm": _FastStepper._lstm_layer, "gru": _FastStepper._gru_layer, "rnn": _FastStepper._rnn_layer}


def reference_model(model: CharRNN, precision: str = "fp32") -> CharRNN:
    """The plain :class:`CharRNN` that ``precision``'s fast stepper computes, in eval mode.

    For ``fp16`` that is the model with its fp16-stored matrices rounded to fp16; otherwise it
    is an eval-mode copy of the model (``int8``'s quantised inputs have no plain equivalent).
    ``fp32`` and ``fp16`` prime with it (``int8`` primes by stepping itself). Cached until the weights change.
    """
    rounding = "fp16" if precision == "fp16" else "fp32"
    return _cached(model, ("reference", rounding), lambda: _build_reference(model, rounding))


def _build_reference(model: CharRNN, precision: str) -> CharRNN:
    copied = copy.deepcopy(model).eval().requires_grad_(False)
    if precision == "fp16":
        rnn = copied.rnn
        with torch.no_grad():
            for layer in range(rnn.num_layers):
                names = ["weight_hh"] if layer == 0 else ["weight_hh", "weight_ih"]
                for name in names:
                    weight = getattr(rnn, f"{name}_l{layer}")
                    weight.copy_(weight.half().float())
    return copied


class _ModelCache:
    """What has been built for one model, and the lock its builders take (one model at a time)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # re-entered: a packed network builds its reference model
        self.entries: dict[object, tuple[tuple[object, ...], object]] = {}


_caches: weakref.WeakKeyDictionary[CharRNN, _ModelCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()  # guards only the dictionary above, never a build


def _weights_fingerprint(model: CharRNN) -> tuple[object, ...]:
    """What identifies the weights a model holds right now.

    Each parameter's storage (device, dtype, shape, data pointer) and version counter catch
    ``model.to()`` / ``.half()`` / ``p.data = ...`` (new storage) and in-place updates (an
    optimiser step, ``load_state_dict``). A write through ``p.data`` (``p.data.copy_(...)``)
    bumps no version counter, so the sum of each parameter's values is part of it too (~0.3 ms
    for 3.3M weights). A write that keeps every sum exactly (a permutation) is not seen: call
    :func:`clear_cache` after one.
    """
    params = list(model.parameters())
    # (Tensors made under inference mode have no version counter; they can't be trained anyway.)
    storage = tuple(
        (id(p), p.device, p.dtype, tuple(p.shape), p.data_ptr(), 0 if p.is_inference() else p._version) for p in params
    )
    with torch.no_grad():
        sums = torch.stack([p.detach().sum(dtype=torch.float32).cpu() for p in params]).tolist() if params else []
    return storage + tuple(sums)


def clear_cache(model: CharRNN | None = None) -> None:
    """Forget the packed weights of ``model`` (of every model when None); they are rebuilt on next use."""
    with _caches_lock:
        if model is None:
            _caches.clear()
        else:
            _caches.pop(model, None)


def _cached(model: CharRNN, key: object, build: Callable[[], _T]) -> _T:
    """``build()``, remembered per model and key until the model's weights change.

    Builders of one model wait for each other (so a network is packed once); other models don't wait.
    """
    with _caches_lock:
        cache = _caches.get(model)
        if cache is None:
            cache = _caches[model] = _ModelCache()
    fingerprint = _weights_fingerprint(model)
    with cache.lock:
        hit = cache.entries.get(key)
        if hit is not None and hit[0] == fingerprint:
            return hit[1]  # type: ignore[return-value]
        # Built as ordinary tensors even when called under inference mode, so later version
        # checks and any caller's mode can use them.
        with torch.inference_mode(False), torch.no_grad():
            built = build()
        cache.entries[key] = (fingerprint, built)
        return built


@functools.cache
def _precision_works(precision: str) -> bool:
    """Whether this torch can run ``precision``'s kernels here, tried once on a small matrix.

    The quantized ops exist only in some builds and engines (fbgemm / x86); off x86 they may
    exist and still refuse to run, so they are tried rather than looked up.
    """
    try:
        weight = torch.linspace(-1, 1, 64).reshape(8, 8)
        x = torch.linspace(-0.9, 0.9, 16).reshape(2, 8)
        linear = _Linear(weight, torch.zeros(8), precision)
        got = linear.into(x, torch.empty(2, 8))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return bool(torch.allclose(got, x @ weight.T, atol=0.05))


def resolve_precision(model: CharRNN, precision: str = "auto") -> str:
    """The precision ``precision`` stands for on this model and machine (``auto`` resolved)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if getattr(model, "cell", None) == "ngram":
        return "exact"  # an n-gram model's counts have one precision: chargen.inference.ngram_steps
    on_cpu = model.device.type == "cpu"
    if precision == "auto":
        if not on_cpu:
            return "exact"
        return next(p for p in ("int8", "fp16", "fp32") if p == "fp32" or _precision_works(p))
    if precision != "exact" and not on_cpu:
        raise ConfigError(f"precision {precision!r} runs on the CPU only; this model is on {model.device}")
    if precision in ("fp16", "int8") and not _precision_works(precision):
        raise ConfigError(f"precision {precision!r} needs fbgemm's quantized kernels, which this torch can't run")
    return precision


def step_network(model: CharRNN, precision: str = "auto") -> StepNetwork:
    """The network ``precision`` names for ``model`` (packed once per model and cached until its weights change).

    Hold on to it to make many steppers without checking the weights each time (a server does).
    """
    precision = resolve_precision(model, precision)
    if getattr(model, "cell", None) == "ngram":  # counts, no network
        from chargen.inference.ngram_steps import NgramNetwork

        return NgramNetwork(model)
    if precision == "exact":
        return _ReferenceNetwork(reference_model(model, "fp32"))
    return _cached(model, ("packed", precision), lambda: _PackedNetwork(model, precision))


def start_stepper(model: CharRNN, prompt_ids: list[int], batch: int, precision: str = "auto") -> Stepper:
    """Prime ``batch`` rows with ``prompt_ids`` on the network ``precision`` names (:meth:`StepNetwork.start`).

    Call it, and step the result, under ``torch.inference_mode()``.
    """
    return step_network(model, precision).start(prompt_ids, batch)
