"""What chargen does on a CUDA GPU, checked against the CPU: run on a machine with one.

    python scripts/gpu_check.py [OUT_DIR]

1. ``chargen train --device cuda`` for a few steps on a small text, then ``--resume`` on the CPU.
2. The exact stepper on the GPU (its ``state`` / ``select_rows`` / ``resume`` too) against the model's
   own forward pass on the CPU, for lstm, gru and rnn.
3. ``compare`` (greedy and sampled, exact precision), ``sweep``, ``beam_search`` and ``activations``
   on the GPU against the same calls on the CPU: the same texts (a sampled text may part where two
   characters' probabilities tie within float error; the script says where).
Prints one line per check and exits non-zero if a check fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chargen import compare  # noqa: E402
from chargen.inference import inside  # noqa: E402
from chargen.inference.engine import step_network  # noqa: E402
from chargen.model import CharRNN  # noqa: E402

failures: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
    if not ok:
        failures.append(name)


def main(out: Path) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"  # on the CPU the script checks itself only
    print("torch", torch.__version__, "device", torch.cuda.get_device_name(0) if device == "cuda" else "cpu")
    text = ("the quick brown fox jumps over the lazy dog. " * 400).strip()
    corpus = out / "corpus.txt"
    corpus.write_text(text)
    run = out / "run"
    base = [sys.executable, "-m", "chargen", "train", str(corpus), "--out", str(run), "--cell", "lstm"]
    small = ["--hidden", "64", "--layers", "2", "--seq-len", "32", "--batch-size", "8", "--eval-every", "10"]
    done = subprocess.run([*base, *small, "--max-steps", "20", "--device", device], capture_output=True, text=True)
    check(f"train on {device}", done.returncode == 0, done.stderr[-300:] if done.returncode else "")
    resumed = subprocess.run(
        [*base, *small, "--max-steps", "30", "--device", "cpu", "--resume"], capture_output=True, text=True
    )
    check("resume on cpu", resumed.returncode == 0, resumed.stderr[-300:] if resumed.returncode else "")
    from chargen import load_model

    trained = load_model(str(run))
    for cell in ("lstm", "gru", "rnn"):
        cpu_model = trained if cell == "lstm" else _fresh(trained, cell)
        gpu_model = _copy_to(cpu_model, device)
        prompt = "the quick "
        ids = cpu_model.vocab.encode(prompt)
        stepper = step_network(gpu_model, "exact").start(ids, 3)
        state = stepper.state()
        reference_logits, _ = cpu_model(torch.tensor([ids]), None)
        gap = (state.logits[0].cpu() - reference_logits[0, -1]).abs().max().item()
        # cuDNN's RNNs may run their matrix products in TF32 on Ampere and later: ~1e-3, not 1e-6.
        check(f"{cell}: primed logits on {device} == cpu forward", gap < 1e-2, f"(max gap {gap:.1e})")
        stepper.select_rows([0, 2])
        resumed_stepper = step_network(gpu_model, "exact").resume(stepper.state())
        next_ids = torch.tensor([1, 2], device=device)
        a, b = stepper.step(next_ids), resumed_stepper.step(next_ids)
        check(f"{cell}: select_rows + resume step identically on {device}", torch.equal(a, b))
        gpu_pair = compare(gpu_model, prompt, 200, temperature=0.8, seed=5, precision="exact")
        cpu_pair = compare(cpu_model, prompt, 200, temperature=0.8, seed=5, precision="exact")
        check(f"{cell}: greedy text {device} == cpu", gpu_pair.greedy == cpu_pair.greedy)
        parted = next(
            (i for i, (x, y) in enumerate(zip(gpu_pair.sampled, cpu_pair.sampled, strict=False)) if x != y), None
        )
        check(f"{cell}: sampled text {device} vs cpu", True, "(identical)" if parted is None else f"(part at {parted})")
        sweep_gpu = inside.sweep(gpu_model, prompt, 100, [0, 1.0], seed=3, precision="exact")
        check(f"{cell}: sweep greedy on {device} == compare greedy", sweep_gpu[0].text == gpu_pair.greedy[:100])
        beam_gpu = inside.beam_search(gpu_model, prompt, 60, 4, precision="exact")
        beam_cpu = inside.beam_search(cpu_model, prompt, 60, 4, precision="exact")
        check(f"{cell}: beam text {device} == cpu", beam_gpu.text == beam_cpu.text)
        read = prompt + gpu_pair.greedy[:50]
        acts_gpu = inside.activations(gpu_model, read, precision="exact")
        acts_cpu = inside.activations(cpu_model, read, precision="exact")
        check(f"{cell}: activations on {device} == cpu", torch.allclose(acts_gpu.values, acts_cpu.values, atol=1e-4))
        expected_gpu = inside.expectations(gpu_model, read, precision="exact")
        expected_cpu = inside.expectations(cpu_model, read, precision="exact")
        close = all(abs(a.p - b.p) < 1e-4 for a, b in zip(expected_gpu, expected_cpu, strict=True))
        check(f"{cell}: expectations on {device} == cpu", close)
    (out / "summary.json").write_text(json.dumps({"failures": failures}))
    if failures:
        sys.exit(1)


def _fresh(like: CharRNN, cell: str) -> CharRNN:
    torch.manual_seed(0)
    config = like.config
    from dataclasses import replace

    return CharRNN(replace(config, cell=cell)).eval()


def _copy_to(model: CharRNN, device: str) -> CharRNN:
    copy = CharRNN(model.config)
    copy.load_state_dict(model.state_dict())
    return copy.to(device).eval()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
