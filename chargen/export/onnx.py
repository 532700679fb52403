"""A model as an ONNX graph of one step, for runtimes without torch (onnxruntime-web in a static page).

The graph takes one token id per row and the recurrent state, and returns the next logits and the
new state: ``(token[B], h[L, B, H] (, c[L, B, H] for an LSTM)) -> (logits[B, V], h, (c))``. A
prompt is fed one step at a time. torch's dynamo exporter fixes the sequence length of a native
``LSTM`` op in the graph (FACTS.md), so the cells are written out as their matrix products and
gates instead, which also keeps the batch size free and lets the weights be stored in fp16.

Precisions (:data:`EXPORT_PRECISIONS`) are the engine's (:data:`chargen.inference.engine.PRECISIONS`):

- ``fp32``: every weight as trained; the graph computes the model's own ``forward``.
- ``fp16``: the recurrent matrices (what the engine's ``fp16`` rounds) stored in fp16 and cast to
  fp32 in the graph; everything else fp32. The graph computes exactly the engine's fp16 reference
  network (:func:`chargen.inference.engine.reference_model`), so its greedy text is
  ``chargen.compare(..., precision="fp16")``'s, at half the size (the default).

``int8`` is not offered: the engine primes an int8 generation on the fp32 weights, which a page
shipping int8 weights could not reproduce.

Besides ``model.onnx`` the folder holds ``export.json`` (:data:`EXPORT_NAME`): the vocabulary, the
unit, the state's shape, the graph's input and output names and the precision, all a runtime needs
to encode a prompt, step and decode, and the model's own ``config.json``.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chargen.atomic import write_atomic, write_text_atomic
from chargen.errors import ConfigError
from chargen.inference.generate import DEFAULT_PROMPT
from chargen.model import CharRNN

EXPORT_PRECISIONS = ("fp16", "fp32")
"""What ``export --format onnx --precision`` accepts; the first is the default."""
EXPORT_NAME = "export.json"
"""The file beside ``model.onnx`` that describes it (vocabulary, unit, state, names, precision)."""
GRAPH_NAME = "model.onnx"
"""The one-step graph's file name."""
EXPORT_FORMAT_VERSION = 1
"""Bumped when ``export.json`` changes in a way a reader must know about."""
OPSET = 20
"""The ONNX opset written (onnxruntime-web 1.31 runs it)."""


def check_export_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`EXPORT_PRECISIONS`, else a :class:`ConfigError` naming them."""
    if precision not in EXPORT_PRECISIONS:
        raise ConfigError(
            f"export precision must be one of {', '.join(EXPORT_PRECISIONS)}, got {precision!r} "
            "(int8 is not exported: the engine primes int8 generations on the fp32 weights)"
        )
    return precision


class _StoredMatrix(nn.Module):
    """A weight matrix kept in the precision it is shipped in, used in fp32 (a Cast in the graph)."""

    def __init__(self, weight: torch.Tensor, stored_dtype: torch.dtype):
        super().__init__()
        # Stored transposed, (in, out), so the graph's MatMul reads it without a Transpose.
        self.register_buffer("weight_t", weight.detach().t().contiguous().to(stored_dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight_t.float()


class OneStep(nn.Module):
    """One step of a :class:`CharRNN`, written out cell by cell (PyTorch's gate equations).

    ``forward(token[B], h[L, B, H], c[L, B, H])`` for an LSTM, ``forward(token[B], h[L, B, H])``
    otherwise; returns the logits ``[B, V]`` and the new state in the same layout.
    """

    def __init__(self, model: CharRNN, precision: str = "fp16"):
        super().__init__()
        check_export_precision(precision)
        rnn = model.rnn
        self.cell = model.cell
        self.layers = rnn.num_layers
        self.hidden = rnn.hidden_size
        # The matrices the engine's fp16 rounds (chargen.inference.engine._build_reference): every
        # recurrent matrix, and the input matrices of layers above the first.
        rounded = torch.float16 if precision == "fp16" else torch.float32
        self.embedding_table = nn.Parameter(model.embedding.weight.detach().clone(), requires_grad=False)
        self.inputs = nn.ModuleList()
        self.hiddens = nn.ModuleList()
        biases_ih, biases_hh = [], []
        for layer in range(self.layers):
            weight_ih = getattr(rnn, f"weight_ih_l{layer}")
            self.inputs.append(_StoredMatrix(weight_ih, torch.float32 if layer == 0 else rounded))
            self.hiddens.append(_StoredMatrix(getattr(rnn, f"weight_hh_l{layer}"), rounded))
            biases_ih.append(getattr(rnn, f"bias_ih_l{layer}").detach())
            biases_hh.append(getattr(rnn, f"bias_hh_l{layer}").detach())
        for layer in range(self.layers):
            self.register_buffer(f"bias_ih_{layer}", biases_ih[layer].clone())  # (G*H,)
            self.register_buffer(f"bias_hh_{layer}", biases_hh[layer].clone())  # (G*H,)
        self.head_t = nn.Parameter(model.head.weight.detach().t().contiguous().clone(), requires_grad=False)
        self.head_bias = nn.Parameter(model.head.bias.detach().clone(), requires_grad=False)

    def forward(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        # Written so each piece is one ONNX node (Gather, MatMul, Slice...): a step in the browser pays per node.
        x = nn.functional.embedding(token, self.embedding_table)  # (B, E)
        size = self.hidden
        new_h, new_c = [], []
        for layer in range(self.layers):
            gi = self.inputs[layer](x) + getattr(self, f"bias_ih_{layer}")  # (B, G*H)
            gh = self.hiddens[layer](h[layer]) + getattr(self, f"bias_hh_{layer}")  # (B, G*H)
            if self.cell == "lstm":
                assert c is not None
                gates = gi + gh
                i, f = torch.sigmoid(gates[:, :size]), torch.sigmoid(gates[:, size : 2 * size])
                g, o = torch.tanh(gates[:, 2 * size : 3 * size]), torch.sigmoid(gates[:, 3 * size :])
                cell = f * c[layer] + i * g
                x = o * torch.tanh(cell)
                new_c.append(cell)
            elif self.cell == "gru":
                reset = torch.sigmoid(gi[:, :size] + gh[:, :size])
                update = torch.sigmoid(gi[:, size : 2 * size] + gh[:, size : 2 * size])
                new = torch.tanh(gi[:, 2 * size :] + reset * gh[:, 2 * size :])
                x = (1 - update) * new + update * h[layer]
            else:
                x = torch.tanh(gi + gh)
            new_h.append(x)
        logits = x @ self.head_t + self.head_bias  # (B, V)
        if self.cell == "lstm":
            return logits, torch.stack(new_h), torch.stack(new_c)
        return logits, torch.stack(new_h)


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote: the folder, the graph, its description (``export.json``'s contents)."""

    folder: Path
    graph: Path
    description: dict[str, Any]


def state_names(cell: str) -> list[str]:
    """The graph's state inputs for ``cell`` (its outputs add ``_out``): ``h``, and ``c`` for an LSTM."""
    return ["h", "c"] if cell == "lstm" else ["h"]


def describe(model: CharRNN, precision: str, name: str = "") -> dict[str, Any]:
    """The ``export.json`` of ``model`` exported at ``precision``: everything a runtime needs besides the graph."""
    states = state_names(model.cell)
    return {
        "format": "chargen-onnx",
        "format_version": EXPORT_FORMAT_VERSION,
        "name": name,
        "graph": GRAPH_NAME,
        "precision": precision,
        "unit": model.unit,
        "cell": model.cell,
        "layers": model.rnn.num_layers,
        "hidden": model.rnn.hidden_size,
        "vocab": model.vocab.to_list(),
        "default_prompt": DEFAULT_PROMPT,
        "inputs": ["token", *states],
        "outputs": ["logits", *(f"{s}_out" for s in states)],
        "parameters": model.num_parameters(),
    }


def _check_exporter() -> None:
    """A :class:`ConfigError` saying what to install when torch's ONNX exporter can't run here."""
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f'exporting to ONNX needs {" and ".join(missing)}: pip install -e ".[export]"')


def _keeps_half_weights(node: Any) -> bool | None:
    """For onnxscript's constant folding: never fold a Cast from fp16 (leave everything else to its rules)."""
    if node.op_type == "Cast" and node.inputs and node.inputs[0] is not None:
        dtype = node.inputs[0].dtype
        if dtype is not None and dtype.name == "FLOAT16":
            return False
    return None


def onnx_bytes(model: CharRNN, precision: str = "fp16") -> bytes:
    """The one-step graph of ``model`` at ``precision``, serialised (weights inside, opset :data:`OPSET`)."""
    _check_exporter()
    step = OneStep(model.cpu().eval(), precision).eval()
    layers, hidden = step.layers, step.hidden
    batch = 2  # an example only: the batch dimension is left free
    token = torch.zeros(batch, dtype=torch.long)
    states = [torch.zeros(layers, batch, hidden) for _ in state_names(model.cell)]
    names = describe(model, precision)
    batch_dim = torch.export.Dim("batch", min=1, max=4096)
    dynamic = {"token": {0: batch_dim}, **{s: {1: batch_dim} for s in state_names(model.cell)}}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes about its own internals
        program = torch.onnx.export(
            step,
            (token, *states),
            input_names=names["inputs"],
            output_names=names["outputs"],
            dynamic_shapes=dynamic,
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
            optimize=False,
        )
        # Fold the exporter's shape arithmetic (fewer nodes: a browser step pays per node), but not
        # the Casts of the fp16 matrices, which would store them in fp32 again.
        import onnxscript.optimizer

        onnxscript.optimizer.optimize_ir(program.model, should_fold=_keeps_half_weights)
        program.save(buffer)
    return buffer.getvalue()


def export_onnx(model: CharRNN, out: str | Path, precision: str = "fp16", name: str = "") -> OnnxExport:
    """Write ``model`` to the folder ``out`` as ``model.onnx`` (one step), ``export.json`` and ``config.json``.

    Args:
        model: the model to export (moved to the CPU).
        out: the folder to write; created if needed, existing files of the same names replaced.
        precision: one of :data:`EXPORT_PRECISIONS`.
        name: a name for the model, shown by a page that offers several.

    Returns:
        An :class:`OnnxExport` naming what was written.

    Example:
        >>> export_onnx(chargen.load_model("checkpoints/shakespeare"), "site-model")  # doctest: +SKIP
    """
    if not isinstance(model, CharRNN):
        raise ConfigError(f"model must be a chargen CharRNN, got {type(model).__name__}")
    check_export_precision(precision)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    graph = folder / GRAPH_NAME
    data = onnx_bytes(model, precision)
    write_atomic(graph, lambda tmp: Path(tmp).write_bytes(data))
    description = describe(model, precision, name)
    write_text_atomic(folder / EXPORT_NAME, json.dumps(description, ensure_ascii=False, indent=1) + "\n")
    write_text_atomic(folder / "config.json", json.dumps(model.config.to_dict(), ensure_ascii=False, indent=2) + "\n")
    return OnnxExport(folder=folder, graph=graph, description=description)
