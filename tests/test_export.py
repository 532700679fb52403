"""The ONNX export: onnxruntime (Python) against torch, logits and greedy texts, for every cell and unit.

The oracle is the library itself: the graph's logits against the model's own ``forward`` (fp32) or
the engine's fp16 reference network, and its greedy text against ``chargen.compare`` at the
precision the weights were exported in.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from chargen.checkpoint import save_checkpoint
from chargen.errors import ConfigError
from chargen.export.onnx import EXPORT_NAME, export_onnx, onnx_bytes
from chargen.inference.engine import reference_model
from chargen.inference.generate import TextLength, compare, prepare_prompt
from chargen.model import CharRNN
from tests.helpers import run_cli, tiny_model, tiny_word_model

# Each export runs torch's ONNX exporter (~1.5 s a model): the module's setup alone takes ~20 s.
pytestmark = pytest.mark.slow

GREEDY_LENGTH = 300
CELLS = ("lstm", "gru", "rnn")


class OnnxGreedy:
    """Greedy generation on an exported graph with onnxruntime: the page's loop, in Python."""

    def __init__(self, graph: bytes, model: CharRNN):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.model = model
        self.states = ["h", "c"] if model.cell == "lstm" else ["h"]
        self.shape = (model.rnn.num_layers, 1, model.rnn.hidden_size)

    def run(self, ids: list[int]) -> np.ndarray:
        """Feed ``ids`` one step at a time from a zero state; the logits after each, ``(T, V)``."""
        state = {name: np.zeros(self.shape, np.float32) for name in self.states}
        rows = []
        for token in ids:
            logits, *new = self.session.run(None, {"token": np.array([token], np.int64), **state})
            state = dict(zip(self.states, new, strict=True))
            rows.append(logits[0])
        self.state = state
        return np.stack(rows)

    def greedy(self, prompt: str, length: int) -> str:
        """The greedy continuation of ``prompt``, ``length`` characters, as ``compare`` counts them."""
        ids = prepare_prompt(self.model, prompt).ids
        logits = self.run(ids)[-1]
        counter, chosen = TextLength(self.model, length), []
        while True:
            token = int(np.argmax(logits))  # the first of equal maxima, as torch.argmax
            chosen.append(token)
            if counter.add(token, token):
                break
            logits, *new = self.session.run(None, {"token": np.array([token], np.int64), **self.state})
            logits = logits[0]
            self.state = dict(zip(self.states, new, strict=True))
        return self.model.vocab.decode(chosen)[:length]


def models() -> list[tuple[str, CharRNN]]:
    made = []
    for cell in CELLS:
        made.append((f"{cell}-char", tiny_model(cell, vocab="abcdefgh \nABC:", hidden=24, seed=3)))
        made.append((f"{cell}-word", tiny_word_model(cell, hidden=24, seed=4)))
    return made


MODELS = models()


@pytest.fixture(scope="module")
def graphs() -> dict[tuple[str, str], bytes]:
    """Every model's graph at both precisions, exported once for the module."""
    return {(name, precision): onnx_bytes(model, precision) for name, model in MODELS for precision in ("fp16", "fp32")}


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[name for name, _ in MODELS])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_logits_match_torch(graphs, name, model, precision):
    text = "The cat sat on a mat.\nAnd dog ran" if model.unit == "word" else "ABC: bad cafe\nhead"
    ids = model.vocab.encode(text)
    with torch.no_grad():
        expected, _ = reference_model(model, precision)(torch.tensor([ids]))  # (1, T, V)
    got = OnnxGreedy(graphs[name, precision], model).run(ids)
    np.testing.assert_allclose(got, expected[0].numpy(), rtol=0, atol=1e-4)


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[name for name, _ in MODELS])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_greedy_text_matches_compare(graphs, name, model, precision):
    prompt = "The dog " if model.unit == "word" else "ABC:"
    expected = compare(model, prompt, GREEDY_LENGTH, temperature=0.0, seed=0, precision=precision).greedy
    got = OnnxGreedy(graphs[name, precision], model).greedy(prompt, GREEDY_LENGTH)
    assert len(got) == GREEDY_LENGTH
    assert got == expected


def test_fp16_stores_the_recurrent_matrices_in_half(graphs):
    # What makes the page small: the recurrent matrices stay fp16 in the file (no constant folding to fp32).
    graph = onnx.load_from_string(graphs["lstm-char", "fp16"])
    kinds = {init.name: init.data_type for init in graph.graph.initializer}
    half = sorted(name for name, kind in kinds.items() if kind == onnx.TensorProto.FLOAT16)
    assert half == ["hiddens.0.weight_t", "hiddens.1.weight_t", "inputs.1.weight_t"]
    assert [i.name for i in graph.graph.input] == ["token", "h", "c"]
    assert [o.name for o in graph.graph.output] == ["logits", "h_out", "c_out"]
    graph32 = onnx.load_from_string(graphs["lstm-char", "fp32"])
    assert not [init.name for init in graph32.graph.initializer if init.data_type == onnx.TensorProto.FLOAT16]
    # The exporter's shape arithmetic is folded away: a browser step pays per node.
    assert {node.op_type for node in graph.graph.node} <= {
        *("Add", "Cast", "Concat", "Gather", "MatMul", "Mul", "Sigmoid", "Slice", "Tanh", "Unsqueeze", "Sub"),
    }


def test_export_writes_graph_and_description(tmp_path):
    model = MODELS[1][1]  # lstm-word
    written = export_onnx(model, tmp_path / "out", precision="fp16", name="tiny words")
    description = json.loads((tmp_path / "out" / EXPORT_NAME).read_text(encoding="utf-8"))
    assert description == written.description
    assert description["vocab"] == model.vocab.to_list()
    assert (description["unit"], description["cell"], description["precision"]) == ("word", "lstm", "fp16")
    assert (description["layers"], description["hidden"], description["name"]) == (2, 24, "tiny words")
    assert description["inputs"] == ["token", "h", "c"]
    config = json.loads((tmp_path / "out" / "config.json").read_text(encoding="utf-8"))
    assert config == model.config.to_dict()
    onnx.checker.check_model(onnx.load(str(written.graph)))


def test_export_refuses_int8(tmp_path):
    with pytest.raises(ConfigError, match="int8"):
        export_onnx(MODELS[0][1], tmp_path, precision="int8")


@pytest.mark.slow
def test_cli_export(tmp_path):
    model = MODELS[2][1]  # gru-char
    save_checkpoint(model, tmp_path / "ckpt")
    result = run_cli("export", str(tmp_path / "ckpt"), "--format", "onnx", "--out", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["precision"] == "fp16"
    graph = (tmp_path / "site" / "model.onnx").read_bytes()
    expected = compare(model, "ABC:", 100, temperature=0.0, seed=0, precision="fp16").greedy
    assert OnnxGreedy(graph, model).greedy("ABC:", 100) == expected
    bad = run_cli("export", str(tmp_path / "ckpt"), "--out", str(tmp_path / "x"), "--precision", "int8")
    assert bad.returncode == 2 and "int8" in bad.stderr
