"""Continuous batching: every visitor's generation of one model stepped together, on one thread.

A server that gives each request its own thread and its own batch of 2 rows pays, per request,
a thread, a step of the network at batch 2 (the step engine does 21k row-characters/s there, and
~45k/s from 32 rows on), and its streamed updates. :class:`BatchingEngine` does what TGI and vLLM
do for transformers: one worker thread per model holds every active request's rows (greedy and
sampled) in one batch and steps them all at once. A new request is primed on a second thread,
together with every request waiting there (:meth:`~chargen.inference.engine.StepNetwork.prime`: each
gets exactly the state :func:`chargen.inference.generate.compare` primes for its prompt alone), and joins
at the next step; a finished or cancelled one leaves at once.

Each request keeps its own seed and sampling settings, and its text is **identical** to what
``compare()`` gives alone for the same arguments (tests/test_batching.py checks it):

- ``int8`` and ``fp16`` (the default ``auto`` is ``int8`` on the CPU): the recurrent matrices
  run through fbgemm, whose results for a row do not depend on the other rows; the fp32 output
  head does (MKL's GEMM rounds differently at other batch sizes and output alignments), so the
  head runs per request, at batch 2 into the request's own buffer, as ``compare`` runs it.
- ``exact``: each request keeps its own reference stepper (the model's own ``forward`` at batch
  2, as ``compare``), stepped in turn by the same thread: identical, but not batched.
- ``fp32``: batched, but the fp32 recurrent GEMMs round differently at other batch sizes, so a
  text can differ from ``compare``'s in rare near-ties (rounding-level differences of the logits).
- A model whose hidden size is not a multiple of 16 steps each request alone (elementwise
  kernels would put a row's last values in their scalar tail at some batch sizes and not others).

Identity assumes torch runs one intra-op thread, as a server does (``views.set_torch_threads(1)``).

Streaming (:func:`stream_updates`) is coalesced: a request's page gets its first characters at
once and its finished result at once; in between, updates are paced by an :class:`UpdatePacer`
so that all visitors together get a bounded number per second: their cost does not grow with
the number of visitors.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ipaddress
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from chargen.errors import ChargenError, ConfigError
from chargen.inference.decoding import Temperature, apply_processors, greedy_choice, gumbel_noise
from chargen.inference.engine import (
    StepNetwork,
    Stepper,
    StepperState,
    resolve_precision,
    start_stepper,
    step_network,
)
from chargen.inference.generate import (
    Comparison,
    PreparedGeneration,
    TextLength,
    comparison_of,
    prepare_generation,
)
from chargen.inference.settings import SamplingArguments, SamplingSettings
from chargen.model import CharRNN

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = [
    "BatchedGeneration",
    "BatchingEngine",
    "EngineFull",
    "EngineStats",
    "ServingSettings",
    "UpdatePacer",
    "stream_updates",
    "visitor_of",
]


PRIMED_PROMPTS = 256
"""Primed states kept per engine, most recently used first (~17 kB each for a 2x512 LSTM)."""


@dataclass(frozen=True)
class ServingSettings:
    """How a server batches generations (one :class:`BatchingEngine` per model) and paces updates.

    Args:
        max_active: generations one model's engine holds at once; more are refused at once
            ("Queue is full"). 256 requests x 300 characters x 2 rows is ~3.4 s of one core's
            stepping at the int8 engine's ~45k row-characters/s from 32 rows (shared/FACTS.md).
        max_per_visitor: of those, how many one visitor (one address) may hold, so that no single
            client fills the server alone.
        updates_per_second: streamed updates all visitors together get per second (see
            :class:`UpdatePacer`); each costs gradio a few ms of CPU.
        min_update_interval: the shortest wait between two updates of one visitor.
    """

    max_active: int = 256
    max_per_visitor: int = 128
    updates_per_second: float = 20.0
    min_update_interval: float = 0.25

    def __post_init__(self) -> None:
        for name in ("max_active", "max_per_visitor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer of at least 1, got {value!r}")
        for name in ("updates_per_second", "min_update_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"{name} must be a number greater than 0, got {value!r}")

    def engine(self, model: CharRNN, name: str = "chargen") -> BatchingEngine:
        """A :class:`BatchingEngine` for ``model`` with these limits (threads ``NAME-step`` / ``NAME-prime``)."""
        return BatchingEngine(model, max_active=self.max_active, max_per_visitor=self.max_per_visitor, name=name)

    def pacer(self) -> UpdatePacer:
        """An :class:`UpdatePacer` with this budget."""
        return UpdatePacer(self.updates_per_second, self.min_update_interval)


def visitor_of(address: str | None, forwarded_for: str | None = None) -> str | None:
    """Who asked, for :class:`ServingSettings`' ``max_per_visitor``: the address the request came from.

    Behind a proxy (Hugging Face Spaces' gives the app an internal 10.x address for every visitor)
    that address is the proxy's, and the proxy says whom it forwards for in ``X-Forwarded-For``
    ("client, proxy1, ..."). A client may write its own entries at the left of that header, so the
    visitor is the rightmost entry that is not a private or loopback address, and that header is
    read only when the request came from such an address. ``None`` when nothing is known.
    """
    if forwarded_for and (address is None or _is_internal(address)):
        for entry in reversed(forwarded_for.split(",")):
            entry = entry.strip()
            if entry and not _is_internal(entry):
                return entry
    return address


def _is_internal(address: str) -> bool:
    """True for a private, loopback or link-local address (a proxy's), False for others and for non-addresses."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local


class EngineFull(ChargenError):
    """The engine already runs as many generations as it may (in all, or for this visitor)."""


@dataclass
class EngineStats:
    """Where the engine thread's CPU went (``time.thread_time`` seconds) and how much it did."""

    prime_s: float = 0.0
    """Priming: the waiting requests' prompts (primed together), and drawing each request's noise."""
    step_s: float = 0.0
    """Network steps (the batched recurrent layers and each request's output head)."""
    choose_s: float = 0.0
    """Choosing the next characters (greedy and sampled), probabilities, bookkeeping."""
    rebuild_s: float = 0.0
    """Moving rows in and out of the batch when requests join or leave."""
    steps: int = 0
    row_steps: int = 0
    requests: int = 0
    prime_hits: int = 0
    """Requests whose prompt was primed already (the state is reused: priming it again gives the same)."""
    max_rows: int = 0

    def as_dict(self) -> dict[str, float | int]:
        """The figures, rounded, as a JSON-able dict."""
        return {
            "prime_s": round(self.prime_s, 3),
            "step_s": round(self.step_s, 3),
            "choose_s": round(self.choose_s, 3),
            "rebuild_s": round(self.rebuild_s, 3),
            "steps": self.steps,
            "row_steps": self.row_steps,
            "requests": self.requests,
            "prime_hits": self.prime_hits,
            "max_rows": self.max_rows,
        }


class BatchedGeneration:
    """One request in a :class:`BatchingEngine`: its progress, its result, and a way to cancel it.

    The engine thread appends characters; any thread may read :meth:`snapshot`. ``done`` becomes
    true once, when the request finished, failed (``error``) or was cancelled.
    """

    def __init__(self, model: CharRNN, settings: PreparedGeneration, visitor: object):
        self._model = model
        self.settings = settings
        self.visitor = visitor
        self.seed = settings.seed
        self.length = settings.length
        self.greedy_ids: list[int] = []
        self.sampled_ids: list[int] = []
        self.sampled_probs: list[float] = []
        self.made = 0
        """Steps made so far (characters, or a word model's tokens; set after the ids are appended)."""
        self.complete = False
        """True once the steps made complete the request (set before ``made``)."""
        self.done = False
        self.cancelled = False
        self.error: BaseException | None = None
        self._final: Comparison | None = None
        self._lock = threading.Lock()
        self._waiters: list[tuple[int, Callable[[], None]]] = []

    def cancel(self) -> None:
        """Ask the engine to drop this request; it leaves the batch before the next step."""
        self.cancelled = True

    def snapshot(self) -> Comparison:
        """The texts so far as a :class:`Comparison`; once done, the complete result (loop included).

        Like :func:`chargen.inference.generate.stream_compare`'s results, a partial one has the probabilities
        so far and no loop. Raises the request's error if it failed.
        """
        if self.error is not None:
            raise self.error
        if self._final is not None:
            return self._final
        complete = self.done and self.complete
        made = self.made
        result = comparison_of(
            self._model,
            self.settings,
            self.greedy_ids[:made],
            self.sampled_ids[:made],
            self.sampled_probs[:made],
            complete,
        )
        if complete:
            self._final = result
        return result

    def wait(self, timeout: float | None = None, made: int | None = None) -> bool:
        """Block until done (or, with ``made``, until that many steps exist); False on timeout."""
        event = threading.Event()
        waiter = (made, event.set)
        self._add_waiter(waiter)
        try:
            return event.wait(timeout)
        finally:
            self._remove_waiter(waiter)

    async def wait_async(self, timeout: float | None = None, made: int | None = None) -> bool:
        """:meth:`wait` for a coroutine: the engine wakes the event loop once, not at every step."""
        if self._reached(made):
            return True
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        waiter = (made, lambda: loop.call_soon_threadsafe(event.set))
        self._add_waiter(waiter)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._remove_waiter(waiter)

    def _reached(self, made: int | None) -> bool:
        return self.done or (made is not None and self.made >= made)

    def _add_waiter(self, waiter: tuple[int | None, Callable[[], None]]) -> None:
        with self._lock:
            if not self._reached(waiter[0]):
                self._waiters.append(waiter)
                return
        waiter[1]()

    def _remove_waiter(self, waiter: tuple[int | None, Callable[[], None]]) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _progress(self) -> None:
        """Called by the engine after new characters and at the end: wake whoever waits for them."""
        if not self._waiters:
            return
        with self._lock:
            ready = [w for w in self._waiters if self._reached(w[0])]
            self._waiters = [w for w in self._waiters if not self._reached(w[0])]
        for _, wake in ready:
            wake()

    def _finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.done = True
        self._progress()


class _Row:
    """The engine's working state for one request: what ``compare``'s ``_decode`` keeps per call."""

    def __init__(self, handle: BatchedGeneration, vocab_size: int):
        settings = handle.settings
        self.handle = handle
        self.t = 0
        self.length = length = settings.length
        self.counter = TextLength(handle._model, length)  # when this request needs no more steps
        self.processors = settings.processors
        self.fused = all(isinstance(p, Temperature) for p in settings.processors)
        self.sampling = settings.temperature > 0.0
        temperature = settings.temperature
        generator = torch.Generator().manual_seed(settings.seed)
        # The same draws, in the same order, as compare() makes for this seed.
        noise = gumbel_noise(length, vocab_size, generator) if self.sampling else torch.zeros(length, vocab_size)
        self.scale = [1.0, 1.0 / temperature if self.sampling else 1.0]
        if self.fused:
            self.pair_noise = torch.stack([torch.zeros_like(noise), noise], dim=1)  # (length, 2, V)
        else:
            self.noise = noise
            prompt_ids = settings.prompt.ids
            self.prompt_length = len(prompt_ids)
            self.history = torch.empty(1, len(prompt_ids) + length, dtype=torch.long)
            self.history[0, : len(prompt_ids)] = torch.tensor(prompt_ids, dtype=torch.long)
            self.zero_noise = torch.zeros(2, vocab_size)
        self.stepper: Stepper | None = None  # its own stepper when it does not step in the batch
        self.state: StepperState | None = None  # its 2 primed rows, until they join the batch

    def current_noise(self) -> torch.Tensor:
        return self.pair_noise[self.t] if self.fused else self.zero_noise


def _name_this_thread(name: str) -> None:
    """Give the OS thread a name (Linux), so per-thread CPU figures (/proc, top -H) can tell it apart."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME
        except (OSError, AttributeError):
            pass


class BatchingEngine:
    """Generations of one model, stepped together in one batch on one worker thread.

    Args:
        model: the model every request runs on (its weights must not change while it serves).
        precision: as in :data:`chargen.inference.generate.PRECISIONS`; ``auto`` is int8 on the CPU.
        max_active: requests held at once (running or waiting to prime); more are refused with
            :class:`EngineFull`.
        max_per_visitor: requests one visitor may hold at once (``None``: ``max_active``).
        name: its threads are ``NAME-step`` and ``NAME-prime`` (the OS sees 15 characters).

    Example::

        engine = BatchingEngine(model)
        job = engine.submit("ROMEO:", 300, temperature=0.8, seed=1)
        job.wait()
        assert job.snapshot() == compare(model, "ROMEO:", 300, temperature=0.8, seed=1)
        engine.close()
    """

    def __init__(
        self,
        model: CharRNN,
        precision: str = "auto",
        max_active: int = 256,
        max_per_visitor: int | None = None,
        name: str = "chargen",
    ):
        if not isinstance(model, CharRNN):
            raise ConfigError(f"model must be a chargen CharRNN, got {type(model).__name__}")
        for what, value in (("max_active", max_active), ("max_per_visitor", max_per_visitor)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{what} must be an integer of at least 1, got {value!r}")
        self.model = model
        self.precision = resolve_precision(model, precision)
        self.max_active = max_active
        self.max_per_visitor = max_active if max_per_visitor is None else min(max_per_visitor, max_active)
        self.vocab_size = len(model.vocab)
        # Batched only where a row's result cannot depend on the other rows (see the module doc).
        self.batched = self.precision in ("int8", "fp16", "fp32") and model.rnn.hidden_size % 16 == 0
        self.stats = EngineStats()
        self._lock = threading.Lock()
        self._step_work = threading.Condition(self._lock)  # the stepping thread waits on it
        self._prime_work = threading.Condition(self._lock)  # the priming thread waits on it
        self._pending: collections.deque[BatchedGeneration] = collections.deque()  # to prime, in order
        self._joining: list[_Row] = []  # primed, joining the batch at the next step
        self._held: collections.Counter[object] = collections.Counter()  # visitor -> requests held
        self._rows: list[_Row] = []  # in batch order: request i has rows 2i (greedy) and 2i + 1 (sampled)
        self._scale = torch.ones(0, 1)
        self._stepper: Stepper | None = None  # every request's rows, when batched
        self._primed: collections.OrderedDict[tuple[int, ...], StepperState] = collections.OrderedDict()
        self._network: StepNetwork | None = None  # packed on first use, off the caller's thread
        self._closed = False
        # Priming runs beside stepping, so a long prompt never holds up the batch (and on 2 cores
        # the two overlap: torch releases the GIL inside its kernels).
        self._threads = [
            threading.Thread(target=self._step_loop, name=f"{name}-step", daemon=True),
            threading.Thread(target=self._prime_loop, name=f"{name}-prime", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # --- the public side, any thread ----------------------------------------------------------

    @property
    def active(self) -> int:
        """Requests held right now (stepping or waiting to prime)."""
        with self._lock:
            return sum(self._held.values())

    def submit(
        self,
        prompt: str,
        length: int,
        settings: SamplingSettings | None = None,
        *,
        visitor: object = None,
        **sampling: Unpack[SamplingArguments],
    ) -> BatchedGeneration:
        """Start a generation: the same arguments as :func:`chargen.inference.generate.compare` (the sampling
        keywords or ``settings=``, whose precision must be ``auto`` or the engine's), plus
        ``visitor``, any hashable that identifies who asked.

        Arguments are checked here (a :class:`ConfigError`); a full engine raises :class:`EngineFull`.
        """
        settings = SamplingSettings.from_arguments(settings, **sampling)
        if settings.precision not in ("auto", self.precision):
            raise ConfigError(f"this engine runs precision {self.precision!r}, not {settings.precision!r}")
        prepared = prepare_generation(self.model, prompt, length, replace(settings, precision=self.precision))
        handle = BatchedGeneration(self.model, prepared, visitor)
        with self._lock:
            if self._closed:
                raise EngineFull("the generation engine is shut down")
            held = sum(self._held.values())
            if held >= self.max_active:
                raise EngineFull(
                    f"Queue is full: {held} generations are running, the most this server runs at once; "
                    "try again in a few seconds"
                )
            if self._held[visitor] >= self.max_per_visitor:
                raise EngineFull(
                    f"you already have {self._held[visitor]} generations running, the most one visitor may; "
                    "wait for one to finish"
                )
            self._held[visitor] += 1
            self._pending.append(handle)
            self._prime_work.notify()
        return handle

    def close(self, timeout: float = 5.0) -> None:
        """Stop the threads; requests still held end with :class:`EngineFull`."""
        with self._lock:
            self._closed = True
            self._step_work.notify()
            self._prime_work.notify()
        for thread in self._threads:
            thread.join(timeout)
        closed = EngineFull("the generation engine was shut down")
        with self._lock:
            pending, self._pending = list(self._pending), collections.deque()
            joining, self._joining = self._joining, []
        for handle in pending + [row.handle for row in joining + self._rows]:
            if not handle.done:
                self._release(handle, closed)
        self._rows = []

    # --- the priming thread -------------------------------------------------------------------

    def _prime_loop(self) -> None:
        _name_this_thread(threading.current_thread().name)
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._prime_work.wait()
                if self._closed:
                    return
                # Every request waiting now is primed together (in arrival order): stepping many
                # prompts at once costs a fraction of priming each alone.
                handles, self._pending = list(self._pending), collections.deque()
            started = time.thread_time()
            rows = self._prime(handles)
            with self._lock:
                self.stats.prime_s += time.thread_time() - started
                if rows:
                    self._joining.extend(rows)
                    self._step_work.notify()

    def _prime(self, handles: list[BatchedGeneration]) -> list[_Row]:
        """The requests' own states, in order: exactly compare()'s priming of each prompt alone.

        Batched engines prime every new prompt in one :meth:`StepNetwork.prime` call (identical to
        priming each alone); the others give each request its own stepper of 2 rows. A request that
        fails here (or was cancelled) leaves; the others go on.
        """
        made: list[_Row] = []
        with torch.inference_mode():
            for handle in handles:
                if handle.cancelled:
                    self._release(handle)
                    continue
                try:
                    row = _Row(handle, self.vocab_size)
                    if not self.batched:
                        row.stepper = start_stepper(self.model, handle.settings.prompt.ids, 2, self.precision)
                except Exception as exc:
                    self._release(handle, exc)
                    continue
                made.append(row)
            if self.batched and made:
                try:
                    self._prime_states(made)  # copied into the batch as they join
                except Exception as exc:
                    for row in made:
                        self._release(row.handle, exc)
                    return []
        self.stats.requests += len(made)
        return made

    def _prime_states(self, rows: list[_Row]) -> None:
        """Give each row the state of 2 rows primed with its prompt (never written: joining copies it).

        States are remembered for the last :data:`PRIMED_PROMPTS` prompts: visitors often send the
        same one (the default prompt, the examples), and priming a prompt again gives the same
        state, so a hit is exact. The prompts not remembered (each once) are primed together.
        """
        missing: dict[tuple[int, ...], list[_Row]] = {}
        for row in rows:
            key = tuple(row.handle.settings.prompt.ids)
            primed = self._primed.get(key)
            if primed is not None:
                self._primed.move_to_end(key)
                self.stats.prime_hits += 1
                row.state = primed
            elif key in missing:  # primed once below, as a request arriving just after it would find it
                self.stats.prime_hits += 1
                missing[key].append(row)
            else:
                missing[key] = [row]
        if not missing:
            return
        network = step_network(self.model, self.precision)
        for (key, waiting), state in zip(missing.items(), network.prime(list(missing)), strict=True):
            pair = state.select_rows([0, 0])  # greedy and sampled start from the same state, as in compare()
            for row in waiting:
                row.state = pair
            self._primed[key] = pair
            if len(self._primed) > PRIMED_PROMPTS:
                self._primed.popitem(last=False)

    def _release(self, handle: BatchedGeneration, error: BaseException | None = None) -> None:
        """The request leaves: its visitor's count goes down and whoever waits for it wakes."""
        with self._lock:
            self._held[handle.visitor] -= 1
            if self._held[handle.visitor] <= 0:
                del self._held[handle.visitor]
        handle._finish(error)

    # --- the stepping thread ------------------------------------------------------------------

    def _step_loop(self) -> None:
        _name_this_thread(threading.current_thread().name)
        while True:
            with self._lock:
                while not self._joining and not self._rows and not self._closed:
                    self._step_work.wait()
                if self._closed:
                    return
                joining, self._joining = self._joining, []
            try:
                with torch.inference_mode():
                    self._iterate(joining)
            except Exception as exc:  # a failed step fails the requests in it, never the thread
                for row in {id(row): row for row in self._rows + joining}.values():
                    if not row.handle.done:
                        self._release(row.handle, exc)
                self._rows, self._stepper = [], None

    def _iterate(self, joining: list[_Row]) -> None:
        """Let the newcomers join and the cancelled leave, choose every row's next characters, let
        the finished leave, step the rest."""
        stats, clock = self.stats, time.thread_time
        started = clock()
        cancelled = [row for row in self._rows if row.handle.cancelled]
        joining = [row for row in joining if not row.handle.cancelled or self._release(row.handle)]
        if joining or cancelled:
            for row in cancelled:
                self._release(row.handle)
            self._regroup([row for row in self._rows if not row.handle.cancelled], joining)
        regrouped = clock()
        stats.rebuild_s += regrouped - started
        if not self._rows:
            return
        chosen = self._choose()
        chose = clock()
        stats.choose_s += chose - regrouped
        finished = [row for row in self._rows if row.counter.done]
        if finished:
            for row in finished:
                self._release(row.handle)
            kept = [row for row in self._rows if not row.counter.done]
            chosen = chosen[self._pair_indices(kept)]
            self._regroup(kept, [])
        regrouped = clock()
        stats.rebuild_s += regrouped - chose
        if self._rows:
            self._step(chosen)
            stats.steps += 1
            stats.row_steps += 2 * len(self._rows)
            stats.max_rows = max(stats.max_rows, 2 * len(self._rows))
        stats.step_s += clock() - regrouped

    def _pair_indices(self, rows: list[_Row]) -> torch.Tensor:
        """The batch rows (greedy, sampled) of ``rows``, by their place in the current batch."""
        place = {id(row): i for i, row in enumerate(self._rows)}
        return torch.tensor([j for row in rows for j in (2 * place[id(row)], 2 * place[id(row)] + 1)], dtype=torch.long)

    def _regroup(self, kept: list[_Row], joined: list[_Row]) -> None:
        """The batch becomes ``kept`` (rows of the current batch, their states gathered) + ``joined``."""
        if self.batched:
            states = [self._stepper.state(self._pair_indices(kept))] if kept else []
            for row in joined:
                states.append(row.state)
                row.state = None
            self._rows = kept + joined
            if self._rows:
                if self._network is None:  # the network start_stepper primed with (packed once per model)
                    self._network = step_network(self.model, self.precision)
                # The head runs per request (2 rows), into that request's own buffer, as compare() runs it:
                # MKL's fp32 GEMM rounds differently at other batch sizes and output alignments.
                self._stepper = self._network.resume(StepperState.concat(states), head_rows=2)
            else:
                self._stepper = None
        else:
            self._rows = kept + joined
        self._scale = torch.tensor([[s] for row in self._rows for s in row.scale])  # (B, 1)

    def _choose(self) -> torch.Tensor:
        """Every row's next character, as ``compare`` chooses it; returns ``ids[2 * requests]``."""
        rows = self._rows
        if self.batched:
            logits = self._stepper.logits  # (B, V)
        else:
            logits = torch.cat([row.stepper.logits for row in rows])  # (B, V)
        noise = torch.cat([row.current_noise() for row in rows])  # (B, V)
        # compare's fused choice for every row: argmax(noise + logits * scale); greedy rows have
        # scale 1 and no noise, so they are the exact argmax of the logits.
        chosen = torch.argmax(torch.addcmul(noise, logits, self._scale), dim=1)  # (B,)
        probs = torch.softmax(logits * self._scale, dim=1).gather(1, chosen[:, None])[:, 0]  # (B,)
        for i, row in enumerate(rows):
            if not row.fused:
                chosen[2 * i + 1], probs[2 * i + 1] = self._choose_processed(row, logits[2 * i + 1 : 2 * i + 2])
        chosen_list, probs_list = chosen.tolist(), probs.tolist()
        for i, row in enumerate(rows):
            handle = row.handle
            handle.greedy_ids.append(chosen_list[2 * i])
            handle.sampled_ids.append(chosen_list[2 * i + 1])
            handle.sampled_probs.append(probs_list[2 * i + 1] if row.sampling else 1.0)
            row.t += 1
            handle.complete = row.counter.add(chosen_list[2 * i], chosen_list[2 * i + 1])
            handle.made = row.t
            handle._progress()
        return chosen

    def _choose_processed(self, row: _Row, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The sampled row of a request with top-k / top-p / repetition penalty (``logits[1, V]``), as ``compare``."""
        position = row.prompt_length + row.t
        scores = apply_processors(row.processors, row.history[:, :position], logits)  # (1, V)
        choice = greedy_choice(scores + row.noise[row.t])[0]
        row.history[0, position] = choice
        prob = torch.softmax(scores, dim=1)[0, choice] if row.sampling else torch.tensor(1.0)
        return choice, prob

    def _step(self, chosen: torch.Tensor) -> None:
        if self.batched:
            self._stepper.step(chosen)
            return
        for i, row in enumerate(self._rows):
            row.stepper.step(chosen[2 * i : 2 * i + 2])


class UpdatePacer:
    """How often each stream may send an update so that all streams together send a bounded number.

    With ``n`` streams open, each waits ``max(min_interval, n / max_per_second)`` seconds between
    updates: one visitor sees the text grow every ``min_interval``; a hundred share the same
    budget, so the server's cost of updates stays flat as visitors come.
    """

    def __init__(self, max_per_second: float = 20.0, min_interval: float = 0.1):
        if not max_per_second > 0 or not min_interval > 0:
            raise ConfigError(f"max_per_second and min_interval must be > 0, got {max_per_second}, {min_interval}")
        self.max_per_second = max_per_second
        self.min_interval = min_interval
        self._open = 0
        self._lock = threading.Lock()

    @property
    def streams(self) -> int:
        """Streams open right now."""
        return self._open

    def interval(self) -> float:
        """Seconds a stream waits before its next update, with this many streams open."""
        return max(self.min_interval, self._open / self.max_per_second)

    def opened(self) -> None:
        with self._lock:
            self._open += 1

    def closed(self) -> None:
        with self._lock:
            self._open -= 1


async def stream_updates(handle: BatchedGeneration, pacer: UpdatePacer) -> AsyncIterator[Comparison]:
    """Yield ``handle``'s comparison as it grows: the first characters at once, then paced updates,
    then the complete result (``done=True``) as soon as it exists. Closing the iterator (a visitor
    who left or pressed Stop) cancels the request, which leaves the batch before the next step.
    """
    pacer.opened()
    try:
        await handle.wait_async(made=1)
        sent = -1
        while True:
            if handle.done:
                yield handle.snapshot()
                return
            if handle.made != sent:
                sent = handle.made
                yield handle.snapshot()
            await handle.wait_async(timeout=pacer.interval())
    finally:
        pacer.closed()
        handle.cancel()
