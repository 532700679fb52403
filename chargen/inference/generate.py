"""Generating text: prime the state with the prompt, then one step per new character.

:func:`compare` runs a greedy and a sampled continuation side by side from the same primed
state, as one batch of 2 per step; :func:`stream_compare` yields the pair as it grows;
:func:`generate` makes one continuation. Each call carries the recurrent state, so a new
character costs one step whatever the length of the text so far. The steps themselves are
:mod:`chargen.inference.engine`'s; how the sampled row is drawn is a :class:`SamplingSettings`.

Prompts: an empty prompt starts from :data:`DEFAULT_PROMPT`; characters the model does not
know are dropped (and reported); only the last :data:`MAX_PROMPT_CHARS` characters are fed.

Example:
    >>> import chargen
    >>> model = chargen.load_model("checkpoints/shakespeare")  # doctest: +SKIP
    >>> settings = chargen.SamplingSettings(temperature=0.8, top_p=0.95, seed=7)
    >>> pair = chargen.compare(model, "ROMEO:", 200, settings=settings)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from chargen.checks import (
    MAX_LENGTH,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    check_chunk_size,
    check_length,
    check_seed,
    check_temperature,
)
from chargen.errors import ConfigError
from chargen.inference.decoding import (
    LogitsProcessor,
    Temperature,
    apply_processors,
    distribution,
    greedy_choice,
    gumbel_noise,
)

# The engine's public names, re-exported: code written before the split imports them from here.
from chargen.inference.engine import (  # noqa: F401
    PRECISIONS,
    Stepper,
    clear_cache,
    reference_model,
    resolve_precision,
    start_stepper,
)
from chargen.inference.loops import Loop, find_loop
from chargen.inference.settings import SamplingArguments, SamplingSettings
from chargen.model import CharRNN
from chargen.ngram import NgramModel

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

__all__ = [
    "DEFAULT_PROMPT",
    "MAX_LENGTH",
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "PRECISIONS",
    "Comparison",
    "Generation",
    "PreparedGeneration",
    "PreparedPrompt",
    "SamplingSettings",
    "TextLength",
    "check_chunk_size",
    "check_length",
    "check_seed",
    "compare",
    "comparison_of",
    "cut_text",
    "generate",
    "next_char_distribution",
    "next_char_distributions",
    "prepare_generation",
    "prepare_prompt",
    "resolve_precision",
    "start_stepper",
    "stream_compare",
]

DEFAULT_PROMPT = "\n"
"""Fed when the prompt is empty (or has no character the model knows): a line break, as at the start of a text."""


@dataclass
class Comparison:
    """A greedy and a sampled continuation of the same prompt (neither includes the prompt).

    ``sampled_probs[i]`` is the probability that the distribution actually sampled from (after
    temperature, top-k, top-p and repetition penalty) gave the sampled text's step ``i``; 1.0 at
    temperature 0. A step writes one character, or for a word model one token: then
    ``greedy_steps`` / ``sampled_steps`` hold how many characters each step wrote (they sum to the
    texts' lengths; the last step may be cut, as both texts stop at the length asked for, in
    characters). They are empty for a character model. ``loop`` describes a repeating tail of
    ``greedy``; while streaming it is filled in only on the last (``done``) result.
    """

    greedy: str
    sampled: str
    seed: int
    loop: Loop | None
    dropped: list[str]
    prompt_used: str
    done: bool
    sampled_probs: list[float] = field(default_factory=list)
    greedy_steps: list[int] = field(default_factory=list)
    sampled_steps: list[int] = field(default_factory=list)

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
            **({"greedy_steps": self.greedy_steps, "sampled_steps": self.sampled_steps} if self.sampled_steps else {}),
            "loop": None
            if loop is None
            else {"start": loop.start, "period": loop.period, "unit": loop.unit, "description": loop.describe()},
        }


@dataclass
class Generation:
    """One continuation (without the prompt) and how it was made; ``probs`` and ``steps`` as
    ``sampled_probs`` and ``sampled_steps`` in :class:`Comparison`."""

    text: str
    seed: int
    dropped: list[str]
    prompt_used: str
    probs: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedPrompt:
    """What is actually fed: ids of the known characters (bounded), the text they spell, what was dropped."""

    ids: list[int]
    text: str
    dropped: list[str]


def prepare_prompt(model: CharRNN, prompt: str) -> PreparedPrompt:
    """Drop unknown characters, fall back to :data:`DEFAULT_PROMPT` if nothing is left, keep the last
    :data:`MAX_PROMPT_CHARS` characters (a word model: the last whole tokens that fit in them)."""
    if not isinstance(prompt, str):
        raise ConfigError(f"prompt must be a string, got {type(prompt).__name__}")
    vocab = model.vocab
    ids, dropped = vocab.encode_lenient(prompt)
    if not ids:
        default = DEFAULT_PROMPT if DEFAULT_PROMPT in vocab else vocab.tokens[0]
        ids = vocab.encode(default)
    if model.unit == "char":
        ids = ids[-MAX_PROMPT_CHARS:]
    else:
        # A word model's ids are tokens: keep the last ones that write at most MAX_PROMPT_CHARS
        # characters (at least one), a suffix of the whole prompt's tokens.
        tokens, start, written = vocab.tokens, len(ids), 0
        while start > 0 and written + len(tokens[ids[start - 1]]) <= MAX_PROMPT_CHARS:
            start -= 1
            written += len(tokens[ids[start]])
        ids = ids[min(start, len(ids) - 1) :]
    return PreparedPrompt(ids=ids, text=vocab.decode(ids), dropped=dropped)


@dataclass(frozen=True)
class PreparedGeneration:
    """One generation's arguments, checked: the prepared prompt, the length, the sampling, the seed in use.

    :func:`prepare_generation` makes it; :func:`compare` and :mod:`chargen.inference.batching` decode from it.
    """

    prompt: PreparedPrompt
    length: int
    temperature: float
    processors: list[LogitsProcessor]
    seed: int
    """The seed in use: ``sampling.seed``, or a fresh one drawn when that is None."""
    precision: str
    sampling: SamplingSettings


def prepare_generation(model: CharRNN, prompt: str, length: int, sampling: SamplingSettings) -> PreparedGeneration:
    """Check one generation's arguments (a :class:`ConfigError` says what is wrong) and prepare its prompt.

    The precision must run on this model and machine; a ``None`` seed becomes a fresh one.
    """
    if not isinstance(model, (CharRNN, NgramModel)):
        raise ConfigError(f"model must be a chargen CharRNN or NgramModel, got {type(model).__name__}")
    resolve_precision(model, sampling.precision)
    return PreparedGeneration(
        prompt=prepare_prompt(model, prompt),
        length=check_length(length),
        temperature=sampling.temperature,
        processors=sampling.processors(),
        seed=check_seed(sampling.seed),
        precision=sampling.precision,
        sampling=sampling,
    )


class TextLength:
    """Whether a generation of ``length`` characters is complete, step by step.

    A character model's is complete after ``length`` steps. A word model's step writes a token of
    one or more characters, so it is complete once both rows (greedy, sampled) have written at
    least ``length`` characters: never more than ``length`` steps. Both texts are then cut to
    ``length`` characters (:func:`comparison_of`).
    """

    def __init__(self, model: CharRNN, length: int):
        self.length = length
        self.steps = 0
        self.written = [0, 0]
        self._token_lengths = model.vocab.token_lengths() if model.unit == "word" else None

    @property
    def done(self) -> bool:
        """True once the generation needs no more steps."""
        if self._token_lengths is None:
            return self.steps >= self.length
        return min(self.written) >= self.length

    def add(self, greedy_id: int, sampled_id: int) -> bool:
        """Count one step that chose these ids; True when the generation is then complete."""
        self.steps += 1
        if self._token_lengths is not None:
            self.written[0] += self._token_lengths[greedy_id]
            self.written[1] += self._token_lengths[sampled_id]
        return self.done


def cut_text(model: CharRNN, ids: Sequence[int], length: int) -> tuple[str, list[int]]:
    """The text of ``ids`` cut to ``length`` characters, and (word models) the characters each step kept.

    A character model's steps write one character each, so its list is empty; a word model's last
    kept step may be cut short.
    """
    vocab = model.vocab
    if model.unit == "char":
        return vocab.decode(ids[:length]), []
    tokens = vocab.tokens
    steps: list[int] = []
    written = 0
    for i in ids:
        if written >= length:
            break
        steps.append(min(len(tokens[i]), length - written))
        written += steps[-1]
    return vocab.decode(ids[: len(steps)])[:length], steps


def comparison_of(
    model: CharRNN,
    settings: PreparedGeneration,
    greedy_ids: Sequence[int],
    sampled_ids: Sequence[int],
    sampled_probs: Sequence[float],
    done: bool,
) -> Comparison:
    """The :class:`Comparison` that the ids chosen so far make: texts cut at the length asked for,
    the steps of a word model, the loop once ``done`` (:mod:`chargen.inference.batching` builds its
    results here too)."""
    greedy, greedy_steps = cut_text(model, greedy_ids, settings.length)
    sampled, sampled_steps = cut_text(model, sampled_ids, settings.length)
    kept = len(sampled_steps) if sampled_steps else len(sampled)
    return Comparison(
        greedy=greedy,
        sampled=sampled,
        seed=settings.seed,
        loop=find_loop(greedy) if done else None,
        dropped=list(settings.prompt.dropped),
        prompt_used=settings.prompt.text,
        done=done,
        sampled_probs=list(sampled_probs[:kept]),
        greedy_steps=greedy_steps,
        sampled_steps=sampled_steps,
    )


def _decode(
    model: CharRNN, settings: PreparedGeneration, chunk_size: int
) -> Iterator[tuple[list[int], list[int], list[float], bool]]:
    """Yield ``(greedy ids, sampled ids, sampled probabilities, complete)`` for each new chunk of steps.

    Row 0 of a batch of 2 is greedy (argmax of the raw logits), row 1 is sampled. Work happens
    only while the consumer asks for more, so dropping the iterator stops it, priming included.
    A step writes a character (a token for a word model: :class:`TextLength` says when to stop).
    """
    length, temperature, processors = settings.length, settings.temperature, settings.processors
    prompt_ids = settings.prompt.ids
    generator = torch.Generator().manual_seed(settings.seed)
    # With temperature alone (the common case) both rows take one fused step:
    # argmax(noise + logits * scale), where row 0 has scale 1 and no noise, so it stays the
    # exact argmax of the logits. Other processors run on the sampled row only.
    fused = all(isinstance(p, Temperature) for p in processors)
    # A character model stops after `length` steps; a word model's steps are counted as they go.
    counter = TextLength(model, length) if model.unit == "word" else None
    stepper: Stepper | None = None
    made, complete = 0, False
    while not complete:
        end = min(made + chunk_size, length)
        # Entered per chunk, not around the loop, so grad mode is not changed for the consumer.
        with torch.inference_mode():
            if stepper is None:
                stepper = start_stepper(model, prompt_ids, 2, settings.precision)
                # Buffers live where the stepper's logits do (the CPU, or the model's device on
                # the exact path); the noise is drawn on the CPU so a seed means the same anywhere.
                device, vocab_size = stepper.logits.device, len(model.vocab)
                sampling = temperature > 0.0
                noise = gumbel_noise(length, vocab_size, generator) if sampling else torch.zeros(length, vocab_size)
                noise = noise.to(device)
                chosen = torch.empty(length, 2, dtype=torch.long, device=device)  # (step, row)
                drawn_from = torch.empty(length, vocab_size, device=device)  # the sampled row's scores
                if fused:
                    pair_noise = torch.stack([torch.zeros_like(noise), noise], dim=1)  # (length, 2, V)
                    scale = torch.tensor([[1.0], [1.0 / temperature if sampling else 1.0]], device=device)  # (2, 1)
                else:
                    history = torch.empty(1, len(prompt_ids) + length, dtype=torch.long, device=device)
                    history[0, : len(prompt_ids)] = torch.tensor(prompt_ids, dtype=torch.long)
            logits = stepper.logits
            for t in range(made, end):
                if fused:
                    torch.argmax(torch.addcmul(pair_noise[t], logits, scale), dim=1, out=chosen[t])
                    drawn_from[t].copy_(logits[1])
                else:
                    position = len(prompt_ids) + t
                    scores = apply_processors(processors, history[:, :position], logits[1:])  # (1, V)
                    drawn_from[t].copy_(scores[0])
                    torch.cat([greedy_choice(logits[:1]), greedy_choice(scores + noise[t])], out=chosen[t])
                    history[0, position] = chosen[t, 1]
                if counter is not None and counter.add(*chosen[t].tolist()):
                    end = t + 1
                    break
                if t + 1 < length:
                    logits = stepper.step(chosen[t])
            complete = end == length or (counter is not None and counter.done)
            greedy_ids, sampled_ids = chosen[made:end].T.tolist()
            if sampling:
                scores = drawn_from[made:end] * scale[1] if fused else drawn_from[made:end]
                probs = torch.softmax(scores, dim=1).gather(1, chosen[made:end, 1:]).squeeze(1).tolist()
            else:
                probs = [1.0] * (end - made)
        made = end
        yield greedy_ids, sampled_ids, probs, complete


def stream_compare(
    model: CharRNN,
    prompt: str,
    length: int,
    settings: SamplingSettings | None = None,
    *,
    chunk_size: int = 1,
    **sampling: Unpack[SamplingArguments],
) -> Iterator[Comparison]:
    """Yield the greedy and sampled continuations as they grow, every ``chunk_size`` steps (characters;
    a word model's tokens, so its results grow by a token or more).

    Sampling is ``settings`` (a :class:`SamplingSettings`), or the sampling keywords that spell
    one (not both); see :func:`compare`. Arguments are validated at the call (a
    :class:`ConfigError`), not at the first ``next``. Each result holds the whole texts so far;
    the last one has ``done=True``, the loop info, and equals :func:`compare`'s result for the
    same seed. Stopping the iteration stops the work.
    """
    prepared = prepare_generation(model, prompt, length, SamplingSettings.from_arguments(settings, **sampling))
    chunk_size = check_chunk_size(chunk_size)
    return _stream_compare(model, prepared, chunk_size)


def _stream_compare(model: CharRNN, settings: PreparedGeneration, chunk_size: int) -> Iterator[Comparison]:
    greedy_ids: list[int] = []
    sampled_ids: list[int] = []
    probs: list[float] = []
    for greedy_chunk, sampled_chunk, sampled_probs, complete in _decode(model, settings, chunk_size):
        greedy_ids.extend(greedy_chunk)
        sampled_ids.extend(sampled_chunk)
        probs.extend(sampled_probs)
        yield comparison_of(model, settings, greedy_ids, sampled_ids, probs, complete)


def compare(
    model: CharRNN,
    prompt: str,
    length: int,
    settings: SamplingSettings | None = None,
    **sampling: Unpack[SamplingArguments],
) -> Comparison:
    """A greedy and a sampled continuation of ``prompt``, ``length`` characters each, side by side.

    Both start from the same primed state and advance as one batch of 2 per step. The greedy
    text is the argmax of the network's logits at each step; the sampled text is drawn as
    ``settings`` says: at its temperature (0 = greedy) after the optional top-k, top-p and
    repetition penalty, from a generator seeded with its seed (a fresh one, reported in the
    result, when None), on the network its precision names (see
    :data:`chargen.inference.engine.PRECISIONS`).

    Args:
        model: the model to continue with.
        prompt: the text to continue (see :func:`prepare_prompt`).
        length: characters to make, 1..:data:`MAX_LENGTH`.
        settings: how the sampled text is drawn; default ``SamplingSettings()``.
        **sampling: instead of ``settings``, the fields of one by name (``temperature=0.8``,
            ``top_k``, ``top_p``, ``repetition_penalty``, ``seed``, ``precision``); not both.

    Returns:
        A :class:`Comparison` holding both texts, the seed used and any loop in the greedy text.

    Example:
        >>> pair = compare(model, "ROMEO:", 200, SamplingSettings(seed=7))  # doctest: +SKIP
        >>> pair = compare(model, "ROMEO:", 200, temperature=0.8, seed=7)  # doctest: +SKIP
    """
    prepared = prepare_generation(model, prompt, length, SamplingSettings.from_arguments(settings, **sampling))
    # One chunk of the whole length: a single result, which is the complete one.
    (result,) = _stream_compare(model, prepared, prepared.length)
    return result


def generate(
    model: CharRNN,
    prompt: str,
    length: int,
    settings: SamplingSettings | None = None,
    **sampling: Unpack[SamplingArguments],
) -> Generation:
    """One continuation of ``prompt`` (without it), drawn as ``settings`` says (greedy at temperature 0).

    It runs :func:`compare`'s computation (a step costs about the same at batch 1 or 2: it is
    bound by reading the weights), so the same settings and seed give exactly its ``sampled``.
    Arguments as in :func:`compare`.
    """
    prepared = prepare_generation(model, prompt, length, SamplingSettings.from_arguments(settings, **sampling))
    ids: list[int] = []
    probs: list[float] = []
    for _, sampled_ids, sampled_probs, _ in _decode(model, prepared, prepared.length):
        ids.extend(sampled_ids)
        probs.extend(sampled_probs)
    text, steps = cut_text(model, ids, prepared.length)
    return Generation(
        text=text,
        seed=prepared.seed,
        dropped=list(prepared.prompt.dropped),
        prompt_used=prepared.prompt.text,
        probs=probs[: len(steps) if steps else len(text)],
        steps=steps,
    )


def next_char_distribution(
    model: CharRNN, prompt: str, temperature: float, precision: str = "auto"
) -> list[tuple[str, float]]:
    """The probability of every character of the vocabulary (a word model's: every token) coming next
    after ``prompt``, at ``temperature``.

    Likeliest first (ties in vocabulary order); temperature 0 gives the one-hot argmax (what
    greedy picks). The prompt is prepared as in :func:`compare`.
    """
    (rows,) = next_char_distributions(model, prompt, [temperature], precision)
    return rows


def next_char_distributions(
    model: CharRNN, prompt: str, temperatures: Sequence[float], precision: str = "auto"
) -> list[list[tuple[str, float]]]:
    """:func:`next_char_distribution` at each of ``temperatures``, from one run of the prompt through the model.

    Returns one list per temperature, in the order given, each likeliest first.
    """
    if not isinstance(model, (CharRNN, NgramModel)):
        raise ConfigError(f"model must be a chargen CharRNN or NgramModel, got {type(model).__name__}")
    temperatures = [check_temperature(t) for t in temperatures]
    resolve_precision(model, precision)
    prepared = prepare_prompt(model, prompt)
    tokens = model.vocab.tokens  # characters, or a word model's tokens
    with torch.inference_mode():
        logits = start_stepper(model, prepared.ids, 1, precision).logits[0]  # (V,)
        tables = []
        for temperature in temperatures:
            probs = distribution(logits, temperature)  # (V,)
            # A stable sort: ties keep vocabulary order.
            order = torch.sort(probs, descending=True, stable=True).indices.tolist()
            values = probs.tolist()
            tables.append([(tokens[i], values[i]) for i in order])
    return tables
