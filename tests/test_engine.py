"""The step engine: every precision's stepper against an independent computation of what it should compute."""

from __future__ import annotations

import functools
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from chargen.errors import ConfigError
from chargen.inference import engine
from chargen.inference.engine import PRECISIONS, _cached, reference_model, resolve_precision, start_stepper
from chargen.inference.generate import compare
from chargen.model import CharRNN
from tests.helpers import argmax_loop, tiny_model

VOCAB = "\n abcdefgh."
FAST = ("fp32", "fp16", "int8")


def tiny(cell: str = "lstm", layers: int = 2, hidden: int = 24, seed: int = 0, vocab: str = VOCAB) -> CharRNN:
    """A small random model; weights scaled up so its logits are far from uniform (no near-ties)."""
    return tiny_model(cell, vocab, hidden, layers, seed=seed, scale=3.0)


@pytest.fixture(scope="module")
def lstm() -> CharRNN:
    return tiny("lstm")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- int8 against a plain-PyTorch quantised network written here ------------------------------
#
# The int8 precision's specification: hidden states (in (-1, 1)) quantised to 7-bit codes
# round(h * 63) + 64 (clamped to 0..255), weight matrices that multiply hidden states quantised
# symmetrically per output row (scale = max |w| / 127); everything else fp32: layer 0's input
# projection, the biases, the activations, the head. LSTM and RNN layers >= 1 multiply
# [input, hidden] by one matrix [W_ih, W_hh] (so one scale per row of both); GRU keeps them
# apart. The head too is quantised so (7-bit top hidden state, int8 rows) when the vocabulary has
# more than engine.INT8_HEAD_MIN_TOKENS tokens (a word model's). Priming steps this same quantised
# network over the prompt from the zero state (as nn.LSTM starts), one character at a time.


def _quantised_input(x: torch.Tensor) -> torch.Tensor:
    return (torch.clamp(torch.round(x * 63.0) + 64, 0, 255) - 64) / 63.0


def _quantised_rows(weight: torch.Tensor) -> torch.Tensor:
    scale = (weight.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12)
    return torch.clamp(torch.round(weight / scale), -128, 127) * scale


class PlainInt8Network:
    """One row of the int8 network, stepped with plain tensor maths (no packing, no quantized ops)."""

    def __init__(self, model: CharRNN, prompt_ids: list[int]):
        self.model, rnn = model, model.rnn
        self.layers, size = rnn.num_layers, rnn.hidden_size
        self.w = {name: getattr(rnn, name).detach() for name, _ in rnn.named_parameters()}
        self.h = [torch.zeros(size) for _ in range(self.layers)]
        self.c = [torch.zeros(size) for _ in range(self.layers)] if model.cell == "lstm" else None
        with torch.no_grad():
            for char_id in prompt_ids:
                self.step(char_id)

    def _hidden_product(self, layer: int, x_below: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(input part, hidden part) of the gate sums of ``layer``."""
        w, h = self.w, self.h[layer]
        if layer == 0:
            gi = self.model.embedding.weight.detach()[x_below] @ w["weight_ih_l0"].T + w["bias_ih_l0"]
            gh = _quantised_input(h) @ _quantised_rows(w["weight_hh_l0"]).T + w["bias_hh_l0"]
            return gi, gh
        below = self.h[layer - 1]
        if self.model.cell == "gru":
            gi = _quantised_input(below) @ _quantised_rows(w[f"weight_ih_l{layer}"]).T + w[f"bias_ih_l{layer}"]
            gh = _quantised_input(h) @ _quantised_rows(w[f"weight_hh_l{layer}"]).T + w[f"bias_hh_l{layer}"]
            return gi, gh
        both = _quantised_rows(torch.cat([w[f"weight_ih_l{layer}"], w[f"weight_hh_l{layer}"]], dim=1))
        sums = _quantised_input(torch.cat([below, h])) @ both.T + w[f"bias_ih_l{layer}"] + w[f"bias_hh_l{layer}"]
        return sums, torch.zeros_like(sums)

    def step(self, char_id: int) -> torch.Tensor:
        size = self.model.rnn.hidden_size
        for layer in range(self.layers):
            gi, gh = self._hidden_product(layer, char_id if layer == 0 else None)
            if self.model.cell == "lstm":
                i, f, g, o = (gi + gh).split(size)
                self.c[layer] = torch.sigmoid(f) * self.c[layer] + torch.sigmoid(i) * torch.tanh(g)
                self.h[layer] = torch.sigmoid(o) * torch.tanh(self.c[layer])
            elif self.model.cell == "gru":
                r = torch.sigmoid(gi[:size] + gh[:size])
                z = torch.sigmoid(gi[size : 2 * size] + gh[size : 2 * size])
                n = torch.tanh(gi[2 * size :] + r * gh[2 * size :])
                self.h[layer] = (1 - z) * n + z * self.h[layer]
            else:
                self.h[layer] = torch.tanh(gi + gh)
        head = self.model.head
        weight, top = head.weight.detach(), self.h[-1]
        if head.out_features > engine.INT8_HEAD_MIN_TOKENS:
            weight, top = _quantised_rows(weight), _quantised_input(top)
        self.logits = top @ weight.T + head.bias.detach()
        return self.logits


@pytest.mark.parametrize("layers", [1, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_int8_stepper_computes_the_plain_quantised_network(cell, layers):
    model = tiny(cell, layers=layers, seed=4)
    prompt = model.vocab.encode("abc de")
    ids = torch.randint(0, len(model.vocab), (30,), generator=torch.Generator().manual_seed(0)).tolist()
    plain = PlainInt8Network(model, prompt)
    with torch.inference_mode():
        stepper = start_stepper(model, prompt, 1, "int8")
        # Primed by stepping the same quantised network: as close as any step (fbgemm's own rounding).
        assert torch.allclose(stepper.logits[0], plain.logits, atol=1e-3)
        for char_id in ids:
            got = stepper.step(torch.tensor([char_id]))[0]
            assert torch.allclose(got, plain.step(char_id), atol=1e-3), char_id


def test_int8_quantises_the_head_of_a_large_vocabulary_only():
    """Over more than INT8_HEAD_MIN_TOKENS tokens the head is int8 as the spec says; at or below it,
    fp32 (a character model's texts unchanged)."""
    for size, quantised in [(engine.INT8_HEAD_MIN_TOKENS, False), (engine.INT8_HEAD_MIN_TOKENS + 44, True)]:
        vocab = "".join(chr(0x100 + i) for i in range(size))
        model = tiny_model("lstm", vocab=vocab, hidden=24, seed=6, scale=3.0)
        prompt = model.vocab.encode(vocab[:5])
        ids = torch.randint(0, size, (20,), generator=torch.Generator().manual_seed(1)).tolist()
        plain = PlainInt8Network(model, prompt)
        with torch.inference_mode():
            stepper = start_stepper(model, prompt, 1, "int8")
            fp32_head = model.head.weight.detach()
            for char_id in ids:
                got = stepper.step(torch.tensor([char_id]))[0]
                assert torch.allclose(got, plain.step(char_id), atol=1e-3), (size, char_id)
                unquantised = stepper.h[-1][0] @ fp32_head.T + model.head.bias.detach()
                # fp32 head: the plain product; int8 head: measurably not (the check above held it to the spec).
                assert torch.allclose(got, unquantised, atol=1e-5) is not quantised, (size, char_id)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_int8_greedy_text_is_the_plain_quantised_networks_argmax(cell):
    model = tiny(cell, seed=5)
    plain = PlainInt8Network(model, model.vocab.encode("ab"))
    expected = []
    for _ in range(60):
        expected.append(int(plain.logits.argmax()))
        plain.step(expected[-1])
    assert compare(model, "ab", 60, temperature=1.0, seed=1, precision="int8").greedy == model.vocab.decode(expected)


def test_int8_is_what_auto_runs_here(lstm):
    if resolve_precision(lstm) != "int8":  # pragma: no cover - a torch without fbgemm's kernels
        pytest.skip("this torch cannot run the int8 kernels")
    assert compare(lstm, "ab", 40, seed=2) == compare(lstm, "ab", 40, seed=2, precision="int8")


def test_every_precision_name_is_accepted_and_others_are_refused(lstm):
    for precision in PRECISIONS:
        assert resolve_precision(lstm, precision) in PRECISIONS[1:]
    with pytest.raises(ConfigError, match="precision must be one of auto, exact, fp32, fp16, int8, got 'int4'"):
        resolve_precision(lstm, "int4")


# --- the other precisions and the cache ---------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fp16_greedy_equals_argmax_over_the_rounded_model(cell):
    model = tiny(cell, seed=3)
    rounded = reference_model(model, "fp16")
    assert rounded.rnn.weight_hh_l0.equal(model.rnn.weight_hh_l0.half().float())
    assert rounded.head.weight.equal(model.head.weight)  # the head stays fp32
    assert compare(model, "h.", 80, precision="fp16").greedy == argmax_loop(rounded, "h.", 80)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fast_steppers_match_their_reference_logits(precision, cell):
    model = tiny(cell, layers=2, seed=4)
    steps = torch.randint(0, len(model.vocab), (20, 2), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        fast = start_stepper(model, [1, 2, 3], 2, precision)
        ref = start_stepper(reference_model(model, precision), [1, 2, 3], 2, "exact")
        assert torch.allclose(fast.logits, ref.logits)
        for ids in steps:
            assert torch.allclose(fast.step(ids), ref.step(ids), atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_int8_stepper_stays_close_to_the_fp32_network(cell):
    model = tiny(cell, layers=2, seed=4)
    steps = torch.randint(0, len(model.vocab), (20, 2), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        fast = start_stepper(model, [1, 2, 3], 2, "int8")
        ref = start_stepper(model, [1, 2, 3], 2, "exact")
        worst = max(float((fast.step(ids) - ref.step(ids)).abs().max()) for ids in steps)
    # 7-bit hidden states and int8 weights on a 24-wide model whose weights were tripled.
    assert worst < 0.25


def test_int8_products_are_exactly_the_quantised_maths():
    engine = sys.modules["chargen.inference.engine"]
    torch.manual_seed(0)
    weight, bias = torch.randn(96, 48) * 0.2, torch.randn(96)
    x = torch.rand(3, 48) * 2 - 1
    got = engine._Linear(weight, bias, "int8").into(x, torch.empty(3, 96))
    scale, zero = engine._INT8_INPUT_SCALE, engine._INT8_INPUT_ZERO_POINT
    x_quantised = (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale
    row_scale = weight.abs().amax(dim=1, keepdim=True) / 127
    w_quantised = torch.clamp(torch.round(weight / row_scale), -128, 127) * row_scale
    assert torch.allclose(got, x_quantised @ w_quantised.T + bias, atol=1e-4)
    assert (got - (x @ weight.T + bias)).abs().max() < 0.1  # and close to the fp32 product


def test_auto_is_the_fastest_precision_that_runs_and_falls_back(lstm, monkeypatch):
    engine = sys.modules["chargen.inference.engine"]
    assert engine.resolve_precision(lstm) == "int8"
    monkeypatch.setattr(engine, "_precision_works", lambda precision: False)
    assert engine.resolve_precision(lstm) == "fp32"
    assert compare(lstm, "ab", 30, seed=1).greedy == argmax_loop(lstm, "ab", 30)
    with pytest.raises(ConfigError, match="fbgemm"):
        compare(lstm, "ab", 30, precision="int8")


@pytest.mark.parametrize("precision", FAST)
def test_greedy_row_equals_an_argmax_loop_over_the_same_stepper(precision, lstm):
    with torch.inference_mode():
        stepper = start_stepper(lstm, lstm.vocab.encode("abc"), 1, precision)
        ids = []
        for _ in range(50):
            ids.append(int(stepper.logits[0].argmax()))
            stepper.step(torch.tensor(ids[-1:]))
    assert compare(lstm, "abc", 50, temperature=2.0, seed=9, precision=precision).greedy == lstm.vocab.decode(ids)


def test_changed_weights_are_picked_up(lstm):
    model = tiny(seed=6)
    before = compare(model, "ab", 40, temperature=0, precision="fp16")
    with torch.no_grad():
        model.head.bias.add_(torch.arange(len(model.vocab), dtype=torch.float32))
    after = compare(model, "ab", 40, temperature=0, precision="fp16")
    assert after.greedy != before.greedy
    assert after.greedy == argmax_loop(reference_model(model, "fp16"), "ab", 40)


def _via_data_assign(model: CharRNN, other: CharRNN) -> None:
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        p.data = q.detach().clone()


def _via_data_copy(model: CharRNN, other: CharRNN) -> None:
    for p, q in zip(model.parameters(), other.parameters(), strict=True):
        p.data.copy_(q.detach())


def _via_half(model: CharRNN, other: CharRNN) -> None:
    model.half().float()  # the weights round to fp16, in new storage: same Parameter objects


def _via_load_state_dict(model: CharRNN, other: CharRNN) -> None:
    model.load_state_dict(other.state_dict())


@pytest.mark.parametrize("change", [_via_data_assign, _via_data_copy, _via_half, _via_load_state_dict])
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_every_way_of_changing_the_weights_is_picked_up(change, precision):
    model, other = tiny(seed=6), tiny(seed=7)
    compare(model, "ab", 40, seed=3, precision=precision)  # packs and caches the old weights
    change(model, other)
    fresh = CharRNN(model.config).eval()  # a new model holding the changed weights: nothing cached
    fresh.load_state_dict(model.state_dict())
    assert compare(model, "ab", 40, seed=3, precision=precision) == compare(
        fresh, "ab", 40, seed=3, precision=precision
    )


def test_packing_one_model_does_not_hold_up_another():
    import threading

    slow, quick = tiny(seed=8), tiny(seed=9)
    started, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_build() -> str:
        started.set()
        release.wait(30)
        return "packed"

    packing = threading.Thread(target=lambda: _cached(slow, ("test", 1), slow_build))
    packing.start()
    try:
        assert started.wait(30)
        other = threading.Thread(target=lambda: (compare(quick, "ab", 10, seed=0), done.set()))
        other.start()
        assert done.wait(30), "generation on another model waited for this one's packing"
        other.join()
    finally:
        release.set()
        packing.join()


# --- the public stepper API: states, rows, resuming -------------------------------------------
#
# What the batching engine, beam search and the cells view build on. The oracle for "these rows
# alone" is a stepper that only ever held them: started from the prompt at batch 1 and fed the
# same characters.

ALL = ("exact", *FAST)


def _diverged(model: CharRNN, precision: str, batch: int, steps: int = 6):
    """A stepper of ``batch`` rows fed different characters per row, and the ids each row was fed."""
    fed = torch.randint(0, len(model.vocab), (steps, batch), generator=torch.Generator().manual_seed(batch))
    stepper = start_stepper(model, [1, 2, 3], batch, precision)
    for ids in fed:
        stepper.step(ids)
    return stepper, fed


def _alone(model: CharRNN, precision: str, fed: torch.Tensor):
    """A stepper of one row that was fed ``fed[steps]`` only."""
    stepper = start_stepper(model, [1, 2, 3], 1, precision)
    for token in fed:
        stepper.step(token.reshape(1))
    return stepper


@pytest.mark.parametrize("precision", ALL)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("rows", [[2, 0], [3, 1, 1, 0], [1]])
def test_select_rows_then_stepping_equals_stepping_those_rows_alone(precision, cell, rows):
    model = tiny(cell, layers=2, seed=5)
    more = torch.randint(0, len(model.vocab), (5, len(rows)), generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        stepper, fed = _diverged(model, precision, batch=4)
        before = stepper.state()
        stepper.select_rows(rows)
        assert stepper.batch == len(rows)
        # Selecting is copying: exactly the chosen rows of the state, logits included.
        after, want = stepper.state(), before.select_rows(rows)
        assert torch.equal(after.hidden, want.hidden) and torch.equal(after.logits, want.logits)
        assert (after.cell is None) == (cell != "lstm")
        assert after.cell is None or torch.equal(after.cell, want.cell)
        alone = [_alone(model, precision, fed[:, row]) for row in rows]
        for i in range(len(rows)):
            torch.testing.assert_close(stepper.logits[i], alone[i].logits[0], atol=1e-5, rtol=1e-5)
        for ids in more:
            got = stepper.step(ids)
            for i, one in enumerate(alone):
                torch.testing.assert_close(got[i], one.step(ids[i : i + 1])[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("precision", ALL)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_resumed_state_steps_exactly_as_the_stepper_it_came_from(precision, cell):
    model = tiny(cell, layers=2, seed=8)
    more = torch.randint(0, len(model.vocab), (8, 3), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        stepper, _ = _diverged(model, precision, batch=3)
        state = stepper.state()
        resumed = engine.step_network(model, precision).resume(state)
        assert torch.equal(resumed.logits, stepper.logits)
        for ids in more:
            assert torch.equal(resumed.step(ids), stepper.step(ids))
        # The state was copied, never written: resuming it again starts from the same place.
        again = engine.step_network(model, precision).resume(state)
        assert torch.equal(again.logits, state.logits)
        assert not torch.equal(again.state().hidden, stepper.state().hidden)


def test_head_rows_gives_each_pair_the_logits_of_its_own_batch_of_two():
    # What the batching engine relies on: int8 recurrent layers compute a row alone, and the head
    # per pair into its own buffer is compare()'s batch-2 head, so a joined batch is bit-identical.
    model = tiny_model("lstm", VOCAB, hidden=32, layers=2, seed=2, scale=3.0)
    network = engine.step_network(model, "int8")
    with torch.inference_mode():
        pairs = [network.start(model.vocab.encode(prompt), 2) for prompt in ("ab", "h.", "c")]
        joined = network.resume(engine.StepperState.concat([pair.state() for pair in pairs]), head_rows=2)
        steps = torch.randint(0, len(model.vocab), (10, 6), generator=torch.Generator().manual_seed(1))
        for ids in steps:
            got = joined.step(ids)
            for i, pair in enumerate(pairs):
                assert torch.equal(got[2 * i : 2 * i + 2], pair.step(ids[2 * i : 2 * i + 2]))


@pytest.mark.parametrize("precision", ["exact", "fp32"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_layer_states_are_the_models_own_recurrent_state(precision, cell):
    model = tiny(cell, layers=2, seed=3)
    ids = model.vocab.encode("abc.h e")
    with torch.inference_mode():
        stepper = start_stepper(model, ids[:1], 1, precision)
        for token in ids[1:]:
            stepper.step(torch.tensor([token]))
        hiddens, cells = stepper.layer_states()
        _, state = reference_model(model)(torch.tensor([ids]), None)  # the whole text in one forward call
    h, c = state if isinstance(state, tuple) else (state, None)
    assert len(hiddens) == 2 and len(cells) == (2 if cell == "lstm" else 0)
    for layer in range(2):
        torch.testing.assert_close(hiddens[layer][0], h[layer, 0], atol=1e-5, rtol=1e-5)
        if c is not None:
            torch.testing.assert_close(cells[layer][0], c[layer, 0], atol=1e-5, rtol=1e-5)


def test_states_that_do_not_fit_are_refused_with_what_fits(lstm):
    gru = tiny("gru")
    with torch.inference_mode():
        state = start_stepper(lstm, [1, 2], 2, "int8").state()
        with pytest.raises(ConfigError, match=r"state.cell must be None for a gru"):
            engine.step_network(gru, "int8").resume(state)
        with pytest.raises(ConfigError, match=r"state.hidden must have shape \(2, 2, 16\)"):
            engine.step_network(tiny(hidden=16), "fp32").resume(state)
        with pytest.raises(ConfigError, match="not to exact"):
            engine.step_network(lstm, "exact").resume(state, head_rows=2)
        with pytest.raises(ConfigError, match="groups of head_rows=2"):
            engine.step_network(lstm, "int8").resume(state.select_rows([0, 1, 0]), head_rows=2)
        with pytest.raises(ConfigError, match="must be a StepperState"):
            engine.step_network(lstm, "int8").resume({"hidden": state.hidden})
        with pytest.raises(ConfigError, match="with cell states"):
            engine.StepperState.concat([state, start_stepper(gru, [1], 1, "fp32").state()])


@pytest.mark.parametrize("precision", ALL)
def test_a_dropped_stepper_is_freed_at_once(lstm, precision):
    # A server makes a stepper per regroup: one kept alive by a reference cycle until the garbage
    # collector runs would hold its buffers (and cost ~1 ms a regroup in fresh allocations).
    import gc
    import weakref

    gc.disable()
    try:
        with torch.inference_mode():
            stepper = engine.step_network(lstm, precision).resume(start_stepper(lstm, [1, 2], 2, precision).state())
            stepper.step(torch.tensor([1, 2]))
            dropped = weakref.ref(stepper)
            del stepper
        assert dropped() is None
    finally:
        gc.enable()


# --- priming: int8 steps its own network, and many prompts prime together --------------------
#
# The oracle for a primed state is a stepper of one row fed the prompt one character at a time
# (``step``, which runs the head at every character): int8's ``start`` must be exactly that, and
# ``prime`` exactly ``start(prompt, 1)`` for every prompt, whatever the other prompts.


def _same_state(got: engine.StepperState, want: engine.StepperState) -> bool:
    cells_equal = got.cell is None if want.cell is None else torch.equal(got.cell, want.cell)
    return torch.equal(got.hidden, want.hidden) and torch.equal(got.logits, want.logits) and cells_equal


@pytest.mark.parametrize("hidden", [24, 32])  # 24: not a multiple of 16, primed one prompt at a time
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_int8_start_is_stepping_the_prompt_one_character_at_a_time(cell, hidden):
    model = tiny(cell, layers=2, hidden=hidden, seed=11)
    network = engine.step_network(model, "int8")
    assert network.primes_by_stepping
    with torch.inference_mode():
        for prompt in ("a", "ab", "abc de.\nh", "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"):
            ids = model.vocab.encode(prompt)
            stepped = network.start(ids[:1], 1)
            for token in ids[1:]:
                stepped.step(torch.tensor([token]))
            primed = network.start(ids, 1).state()
            assert _same_state(primed, stepped.state()), prompt
            # Every row of a batch starts from that one row's state.
            assert _same_state(network.start(ids, 3).state(), primed.select_rows([0, 0, 0])), prompt


def test_only_int8_primes_by_stepping(lstm):
    assert [engine.step_network(lstm, p).primes_by_stepping for p in ALL] == [False, False, False, True]


@pytest.mark.parametrize("precision", ALL)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_prime_gives_each_prompt_its_state_alone(precision, cell):
    model = tiny(cell, layers=2, hidden=32, seed=12)
    network = engine.step_network(model, precision)
    # Different lengths, a repeated prompt, ties in length, and the longest not first.
    prompts = [model.vocab.encode(p) for p in ("ab", "abc de.\nhhh", "a", "h.", "ab", "abc de.\nhhhh", "g")]
    with torch.inference_mode():
        states = network.prime(prompts)
        alone = [network.start(prompt, 1).state() for prompt in prompts]
    assert len(states) == len(prompts) and all(state.batch == 1 for state in states)
    for prompt, got, want in zip(prompts, states, alone, strict=True):
        assert _same_state(got, want), prompt


@functools.cache
def _prime_model(cell: str, hidden: int) -> CharRNN:
    return tiny(cell, layers=2, hidden=hidden, seed=13)


@given(
    prompts=st.lists(st.lists(st.integers(0, len(VOCAB) - 1), min_size=1, max_size=14), min_size=1, max_size=9),
    cell=st.sampled_from(["lstm", "gru", "rnn"]),
    hidden=st.sampled_from([16, 24, 48]),
)
@settings(max_examples=40, deadline=None)
def test_int8_prime_of_any_prompts_is_bitwise_start_of_each(prompts, cell, hidden):
    torch.set_num_threads(1)  # (the autouse fixture does not wrap each example)
    network = engine.step_network(_prime_model(cell, hidden), "int8")
    with torch.inference_mode():
        states = network.prime(prompts)
        for prompt, state in zip(prompts, states, strict=True):
            assert _same_state(state, network.start(prompt, 1).state()), prompt


@pytest.mark.parametrize("precision", ALL)
def test_an_empty_prompt_is_refused_by_name_and_generation_starts_it_at_a_line_break(lstm, precision):
    network = engine.step_network(lstm, precision)
    with torch.inference_mode():
        with pytest.raises(ConfigError, match="at least one id"):
            network.start([], 2)
        with pytest.raises(ConfigError, match="at least one id"):
            network.prime([[1, 2], []])
        assert network.prime([]) == []
    assert compare(lstm, "", 30, seed=3, precision=precision) == compare(lstm, "\n", 30, seed=3, precision=precision)


def test_int8_priming_stays_close_to_the_fp32_forward_on_the_bundled_model():
    """int8 primes on its own 7-bit network now, so its primed state is no longer the fp32 forward's
    (it was, to 1e-5, when int8 primed with that forward): it is as close as int8's steps are.

    Tolerances: hidden states are quantised to steps of 1/63 (~0.016) at every character, so they
    may differ by a few steps: 0.1 (measured at most 0.06 on these prompts). The next-character
    distribution is what generation uses: its KL divergence from the fp32 forward's is the extra
    loss, in nats, of the next character; the bar int8 had to meet for the held-out loss was 0.01
    nats per character (measured at most 1.1e-4 here), and no probability moves by more than 0.02
    (measured at most 0.006).
    """
    from chargen.hub import load_model

    model = load_model("checkpoints/shakespeare")
    network, reference = engine.step_network(model, "int8"), reference_model(model)
    prompts = [
        "\n",
        "JULIET:\n",
        "ROMEO:\nWhat light through yonder window breaks?",
        "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer",
    ]
    with torch.inference_mode():
        for prompt in prompts:
            ids = model.vocab.encode(prompt)
            primed = network.start(ids, 1).state()
            logits, (h, _) = reference(torch.tensor([ids]), None)
            assert (primed.hidden[0] - h[:, 0]).abs().max() < 0.1, prompt
            fp32 = torch.log_softmax(logits[0, -1].double(), dim=0)
            int8 = torch.log_softmax(primed.logits[0].double(), dim=0)
            assert float((fp32.exp() * (fp32 - int8)).sum()) < 0.01, prompt
            assert (fp32.exp() - int8.exp()).abs().max() < 0.02, prompt
