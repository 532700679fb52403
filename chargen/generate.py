"""Generating text: prime the state with the prompt, then one step per new character.

:func:`compare` runs a greedy and a sampled continuation side by side from the same primed
state, as one batch of 2 per step; :func:`stream_compare` yields the pair as it grows;
:func:`generate` makes one continuation. Each call carries the recurrent state, so a new
character costs one step whatever the length of the text so far.

Prompts: an empty prompt starts from :data:`DEFAULT_PROMPT`; characters the model does not
know are dropped (and reported); only the last :data:`MAX_PROMPT_CHARS` characters are fed.
"""

from __future__ import annotations

import copy
import secrets
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import torch

from chargen.decoding import (
    LogitsProcessor,
    apply_processors,
    build_processors,
    check_temperature,
    distribution,
    greedy_choice,
    sample_choice,
)
from chargen.errors import ConfigError
from chargen.loops import Loop, find_loop
from chargen.model import CharRNN

DEFAULT_PROMPT = "\n"
"""Fed when the prompt is empty (or has no character the model knows): a line break, as at the start of a text."""
MAX_PROMPT_CHARS = 5000
"""Only the last this many (known) characters of a prompt are fed to the model."""
MAX_LENGTH = 5000
"""The longest continuation one call makes."""
MAX_SEED = 2**63 - 1


# --- The step engine -------------------------------------------------------------------------

PRECISIONS = ("auto", "exact")
"""Which network runs a generation. ``exact``: the model's own ``forward``, one call per step
(the reference). ``auto``: the fastest path whose greedy text is the argmax of its logits."""


class Stepper:
    """One generation's recurrent state over a batch of rows: ``logits`` for the next character,
    ``step(ids[B])`` feeds one character per row and returns the new ``logits[B, V]``."""

    logits: torch.Tensor

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class _ReferenceStepper(Stepper):
    """The model's own ``forward``: prime with the whole prompt in one call, then one call per step."""

    def __init__(self, model: CharRNN, prompt_ids: list[int], batch: int):
        self.model = model
        logits, state = model(torch.tensor([prompt_ids], dtype=torch.long), None)  # (1, T, V)
        # Every row starts from the same primed state.
        if isinstance(state, tuple):
            self.state = tuple(s.repeat(1, batch, 1) for s in state)
        else:
            self.state = state.repeat(1, batch, 1)  # (layers, B, H)
        self.logits = logits[:, -1].repeat(batch, 1)  # (B, V)

    def step(self, ids: torch.Tensor) -> torch.Tensor:
        logits, self.state = self.model(ids[:, None], self.state)  # (B, 1, V)
        self.logits = logits[:, 0]
        return self.logits


_eval_copies: weakref.WeakKeyDictionary[CharRNN, tuple[tuple[int, ...], CharRNN]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _weights_version(model: CharRNN) -> tuple[int, ...]:
    # In-place updates (an optimiser step, load_state_dict) bump a tensor's version counter.
    return tuple(p._version for p in model.parameters())


def _eval_copy(model: CharRNN) -> CharRNN:
    """An eval-mode copy of ``model``, cached until its weights change.

    Generating must not switch the caller's model out of training mode (another thread may
    be using it), and dropout must be off, so generation runs on a private copy.
    """
    version = _weights_version(model)
    with _cache_lock:
        cached = _eval_copies.get(model)
        if cached is not None and cached[0] == version:
            return cached[1]
        copied = copy.deepcopy(model).eval().requires_grad_(False)
        _eval_copies[model] = (version, copied)
        return copied


def start_stepper(model: CharRNN, prompt_ids: list[int], batch: int, precision: str = "auto") -> Stepper:
    """Prime ``batch`` rows with ``prompt_ids`` (one forward call) on the network ``precision`` names."""
    return _ReferenceStepper(_eval_copy(model), prompt_ids, batch)


@dataclass
class Comparison:
    """A greedy and a sampled continuation of the same prompt (neither includes the prompt).

    ``sampled_probs[i]`` is the probability that the distribution actually sampled from (after
    temperature, top-k, top-p and repetition penalty) gave ``sampled[i]``; 1.0 at temperature 0.
    ``loop`` describes a repeating tail of ``greedy``; while streaming it is filled in only on
    the last (``done``) result.
    """

    greedy: str
    sampled: str
    seed: int
    loop: Loop | None
    dropped: list[str]
    prompt_used: str
    done: bool
    sampled_probs: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """A JSON-able summary: both texts, the seed, the prompt used, what was dropped, the loop (or None)."""
        loop = self.loop
        return {
            "prompt_used": self.prompt_used,
            "dropped": list(self.dropped),
            "seed": self.seed,
            "greedy": self.greedy,
            "sampled": self.sampled,
            "done": self.done,
            "loop": None
            if loop is None
            else {"start": loop.start, "period": loop.period, "unit": loop.unit, "description": loop.describe()},
        }


@dataclass
class Generation:
    """One continuation (without the prompt) and how it was made; ``probs`` as in :class:`Comparison`."""

    text: str
    seed: int
    dropped: list[str]
    prompt_used: str
    probs: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedPrompt:
    """What is actually fed: ids of the known characters (bounded), the text they spell, what was dropped."""

    ids: list[int]
    text: str
    dropped: list[str]


def prepare_prompt(model: CharRNN, prompt: str) -> PreparedPrompt:
    """Drop unknown characters, fall back to :data:`DEFAULT_PROMPT` if nothing is left, keep the last
    :data:`MAX_PROMPT_CHARS` characters."""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be a string, got {type(prompt).__name__}")
    vocab = model.vocab
    ids, dropped = vocab.encode_lenient(prompt)
    if not ids:
        default = DEFAULT_PROMPT if DEFAULT_PROMPT in vocab else vocab.chars[0]
        ids = vocab.encode(default)
    ids = ids[-MAX_PROMPT_CHARS:]
    return PreparedPrompt(ids=ids, text=vocab.decode(ids), dropped=dropped)


def check_length(length: int) -> int:
    """``length`` if it is an integer in 1..:data:`MAX_LENGTH`, else a :class:`ConfigError`."""
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
        raise ConfigError(f"length must be an integer between 1 and {MAX_LENGTH}, got {length!r}")
    return length


def check_seed(seed: int | None) -> int:
    """``seed``, or a fresh random one when it is ``None``; must be an integer in 0..2**63-1."""
    if seed is None:
        # From the OS, not torch's or Python's global generator, which are left untouched.
        return secrets.randbits(32)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer between 0 and 2**63 - 1 (or None for a fresh one), got {seed!r}")
    return seed


def check_chunk_size(chunk_size: int) -> int:
    """``chunk_size`` if it is an integer >= 1, else a :class:`ConfigError`."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be an integer of at least 1, got {chunk_size!r}")
    return chunk_size


@dataclass
class _Settings:
    """Validated decoding settings shared by compare, stream_compare and generate."""

    prompt: PreparedPrompt
    length: int
    temperature: float
    processors: list[LogitsProcessor]
    seed: int
    precision: str


def _settings(
    model: CharRNN,
    prompt: str,
    length: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    repetition_penalty: float | None,
    seed: int | None,
    precision: str,
) -> _Settings:
    if not isinstance(model, CharRNN):
        raise ConfigError(f"model must be a chargen CharRNN, got {type(model).__name__}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return _Settings(
        prompt=prepare_prompt(model, prompt),
        length=check_length(length),
        temperature=check_temperature(temperature),
        processors=build_processors(temperature, top_k, top_p, repetition_penalty),
        seed=check_seed(seed),
        precision=precision,
    )


def _decode(
    model: CharRNN, settings: _Settings, with_greedy: bool, chunk_size: int
) -> Iterator[tuple[list[int], list[int], list[float]]]:
    """Yield ``(greedy ids, sampled ids, sampled probs)`` for each new chunk of characters.

    Row 0 of the batch is greedy (when ``with_greedy``), the last row is sampled. Work happens
    only while the consumer asks for more, so dropping the iterator stops it.
    """
    prompt_ids = settings.prompt.ids
    batch = 2 if with_greedy else 1
    generator = torch.Generator().manual_seed(settings.seed)
    greedy_sample = settings.temperature == 0.0
    processors = settings.processors
    # The repetition penalty needs the text so far; other steps do not, so only then is it kept.
    keep_history = bool(processors)
    history = torch.empty((1, len(prompt_ids) + settings.length), dtype=torch.long)
    history[0, : len(prompt_ids)] = torch.tensor(prompt_ids, dtype=torch.long)
    position = len(prompt_ids)
    stepper: Stepper | None = None
    made = 0
    while made < settings.length:
        todo = min(chunk_size, settings.length - made)
        greedy_ids: list[int] = []
        sampled_ids: list[int] = []
        sampled_probs: list[float] = []
        # Entered per chunk, not around the loop, so grad mode is not changed for the consumer.
        with torch.inference_mode():
            if stepper is None:
                stepper = start_stepper(model, prompt_ids, batch, settings.precision)
            logits = stepper.logits
            for _ in range(todo):
                sampled_scores = logits[-1:]  # (1, V)
                if keep_history:
                    sampled_scores = apply_processors(processors, history[:, :position], sampled_scores)
                if greedy_sample:
                    sampled_id = greedy_choice(sampled_scores)
                    prob = torch.ones(1)
                else:
                    sampled_id, prob = sample_choice(sampled_scores, generator)
                if with_greedy:
                    greedy_id = greedy_choice(logits[:1])
                    next_ids = torch.cat([greedy_id, sampled_id])
                    greedy_ids.append(int(greedy_id))
                else:
                    next_ids = sampled_id
                sampled_ids.append(int(sampled_id))
                sampled_probs.append(float(prob))
                if keep_history:
                    history[0, position] = sampled_id[0]
                position += 1
                logits = stepper.step(next_ids)
        made += todo
        yield greedy_ids, sampled_ids, sampled_probs


def stream_compare(
    model: CharRNN,
    prompt: str,
    length: int,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    seed: int | None = None,
    chunk_size: int = 1,
    precision: str = "auto",
) -> Iterator[Comparison]:
    """Yield the greedy and sampled continuations as they grow, every ``chunk_size`` characters.

    Arguments are validated at the call (a :class:`ConfigError`), not at the first ``next``.
    Each result holds the whole texts so far; the last one has ``done=True``, the loop info,
    and equals :func:`compare`'s result for the same seed. Stopping the iteration stops the work.
    """
    settings = _settings(model, prompt, length, temperature, top_k, top_p, repetition_penalty, seed, precision)
    chunk_size = check_chunk_size(chunk_size)
    return _stream_compare(model, settings, chunk_size)


def _stream_compare(model: CharRNN, settings: _Settings, chunk_size: int) -> Iterator[Comparison]:
    vocab = model.vocab
    greedy_parts: list[str] = []
    sampled_parts: list[str] = []
    probs: list[float] = []
    result = Comparison(
        greedy="",
        sampled="",
        seed=settings.seed,
        loop=None,
        dropped=list(settings.prompt.dropped),
        prompt_used=settings.prompt.text,
        done=False,
    )
    made = 0
    for greedy_ids, sampled_ids, sampled_probs in _decode(model, settings, True, chunk_size):
        greedy_parts.append(vocab.decode(greedy_ids))
        sampled_parts.append(vocab.decode(sampled_ids))
        probs.extend(sampled_probs)
        made += len(sampled_ids)
        greedy = "".join(greedy_parts)
        greedy_parts = [greedy]
        sampled = "".join(sampled_parts)
        sampled_parts = [sampled]
        done = made == settings.length
        result = replace(
            result,
            greedy=greedy,
            sampled=sampled,
            sampled_probs=list(probs),
            done=done,
            loop=find_loop(greedy) if done else None,
        )
        yield result


def compare(
    model: CharRNN,
    prompt: str,
    length: int,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    seed: int | None = None,
    precision: str = "auto",
) -> Comparison:
    """A greedy and a sampled continuation of ``prompt``, ``length`` characters each, side by side.

    Both start from the same primed state and advance as one batch of 2 per step. The greedy
    text is the argmax of the network's logits at each step; the sampled text is drawn at
    ``temperature`` (0 = greedy) after the optional top-k, top-p and repetition penalty, from a
    generator seeded with ``seed`` (a fresh one, reported in the result, when ``None``).
    ``precision`` picks the network that runs it; see :data:`chargen.engine.PRECISIONS`.
    """
    settings = _settings(model, prompt, length, temperature, top_k, top_p, repetition_penalty, seed, precision)
    # One chunk of the whole length: a single result, which is the complete one.
    (result,) = _stream_compare(model, settings, settings.length)
    return result


def generate(
    model: CharRNN,
    prompt: str,
    length: int,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float | None = None,
    seed: int | None = None,
    precision: str = "auto",
) -> Generation:
    """One continuation of ``prompt`` (without it): sampled at ``temperature``, greedy at 0.

    Same settings and seed as :func:`compare` give the same text as its ``sampled``.
    """
    settings = _settings(model, prompt, length, temperature, top_k, top_p, repetition_penalty, seed, precision)
    ids: list[int] = []
    probs: list[float] = []
    for _, sampled_ids, sampled_probs in _decode(model, settings, False, settings.length):
        ids.extend(sampled_ids)
        probs.extend(sampled_probs)
    return Generation(
        text=model.vocab.decode(ids),
        seed=settings.seed,
        dropped=list(settings.prompt.dropped),
        prompt_used=settings.prompt.text,
        probs=probs,
    )


def next_char_distribution(
    model: CharRNN, prompt: str, temperature: float, precision: str = "auto"
) -> list[tuple[str, float]]:
    """The probability of every character of the vocabulary coming next after ``prompt``, at ``temperature``.

    In vocabulary order; temperature 0 gives the one-hot argmax (what greedy picks). The prompt
    is prepared as in :func:`compare`.
    """
    if not isinstance(model, CharRNN):
        raise ConfigError(f"model must be a chargen CharRNN, got {type(model).__name__}")
    temperature = check_temperature(temperature)
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    prepared = prepare_prompt(model, prompt)
    with torch.inference_mode():
        logits = start_stepper(model, prepared.ids, 1, precision).logits[0]  # (V,)
        probs = distribution(logits, temperature).tolist()
    return list(zip(model.vocab.chars, probs, strict=True))
