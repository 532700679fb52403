"""The vocabulary: the tokens a model reads and writes <-> integer ids.

A character model's tokens are the single characters of its corpus (``unit="char"``). A word
model's (``unit="word"``) are every single character of its corpus plus its most frequent
multi-character tokens (words, runs of whitespace; :func:`split_tokens`); a token outside the
vocabulary is spelled out in characters, so any text made of the corpus's characters encodes,
and the ids of any generation join back to real text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chargen.errors import ConfigError, CorpusError, UnknownCharactersError

UNITS = ("char", "word")
"""What one step of a model reads and writes: a character, or a token of :func:`split_tokens`."""
DEFAULT_WORD_VOCAB_SIZE = 4000
"""Tokens of a word vocabulary when ``--vocab-size`` is not given, single characters included. On
Tiny Shakespeare's 1 MB ``train.txt`` it holds 96.5% of the tokens (92.2% of the words; the rest
are spelled out), 2.03 characters per id (README, "Word-level models")."""

WORD_PATTERN = re.compile(r"(?:[^\W_]|['\u2019])+")
"""A word: a maximal run of Unicode letters, digits and apostrophes (straight or curly)."""
TOKEN_PATTERN = re.compile(rf"{WORD_PATTERN.pattern}|\s+|.", re.DOTALL)
"""A word (a maximal run of Unicode letters, digits and apostrophes), a maximal run of
whitespace, or any other single character. Every character of a text is in exactly one match."""


def split_tokens(text: str) -> list[str]:
    """``text`` cut into words, whitespace runs and single other characters; ``"".join`` gives it back."""
    return TOKEN_PATTERN.findall(text)


def check_unit(unit: object) -> str:
    """``unit`` if it is one of :data:`UNITS`, else a :class:`ConfigError` naming them."""
    if unit not in UNITS:
        raise ConfigError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    return str(unit)


def word_vocab_tokens(chars: Iterable[str], counts: Counter[str], vocab_size: int) -> tuple[str, ...]:
    """A word vocabulary: every character (code point order), then the most frequent multi-character
    tokens of ``counts`` (ties in code point order) until there are ``vocab_size`` tokens.

    A :class:`ConfigError` when ``vocab_size`` is below the number of characters (each must have
    an id, or some text could not be written), a :class:`CorpusError` when there are no words.
    """
    singles = sorted(set(chars))
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < len(singles):
        raise ConfigError(
            f"vocab-size must be at least the corpus's {len(singles)} distinct characters "
            f"(every character has its own token), got {vocab_size!r}"
        )
    if not any(WORD_PATTERN.fullmatch(t) for t in counts):
        raise CorpusError("corpus has no words (runs of letters, digits or apostrophes): use --unit char")
    multi = sorted((t for t in counts if len(t) > 1), key=lambda t: (-counts[t], t))
    return (*singles, *multi[: vocab_size - len(singles)])


def count_tokens(text: str, counts: Counter[str] | None = None) -> Counter[str]:
    """Add how often each token of ``text`` occurs to ``counts`` (a new Counter when None)."""
    counts = Counter() if counts is None else counts
    counts.update(split_tokens(text))
    return counts


@dataclass(frozen=True)
class Vocab:
    """An ordered list of distinct tokens; a token's id is its index.

    The order is part of a trained model, so it is stored as a JSON list in ``config.json``
    (with ``unit``). A character vocabulary's tokens are single characters; a word vocabulary's
    are its single characters first, then multi-character tokens, each one token of
    :func:`split_tokens` made of those characters.
    """

    tokens: tuple[str, ...]
    unit: str = "char"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _chars: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tokens = tuple(self.tokens)
        object.__setattr__(self, "tokens", tokens)
        check_unit(self.unit)
        if self.unit == "char":
            bad = [t for t in tokens if not isinstance(t, str) or len(t) != 1]
            if bad:
                raise ValueError(f"vocabulary entries must be single characters, got {bad[:5]!r}")
        else:
            bad = [t for t in tokens if not isinstance(t, str) or not t]
            if bad:
                raise ValueError(f"vocabulary entries must be non-empty strings, got {bad[:5]!r}")
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"vocabulary has repeated {'characters' if self.unit == 'char' else 'tokens'}")
        chars = frozenset(t for t in tokens if len(t) == 1)
        if self.unit == "word":
            # Each word must be what the tokenizer makes of it, spelled in the vocabulary's own
            # characters: then encoding is well defined and every id decodes to writable text.
            bad = [t for t in tokens if len(t) > 1 and (split_tokens(t) != [t] or not set(t) <= chars)]
            if bad:
                raise ValueError(f"vocabulary words must be single tokens of known characters, got {bad[:5]!r}")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(tokens)})
        object.__setattr__(self, "_chars", chars)

    @classmethod
    def from_text(cls, text: str, unit: str = "char", vocab_size: int | None = None) -> Vocab:
        """The vocabulary of a corpus: its distinct characters in code point order, then for
        ``unit="word"`` its most frequent multi-character tokens up to ``vocab_size`` tokens in all
        (default :data:`DEFAULT_WORD_VOCAB_SIZE`)."""
        if check_unit(unit) == "char":
            if vocab_size is not None:
                raise ConfigError("vocab-size applies to --unit word only (a character model's tokens are characters)")
            return cls(tuple(sorted(set(text))))
        size = DEFAULT_WORD_VOCAB_SIZE if vocab_size is None else vocab_size
        return cls(word_vocab_tokens(text, count_tokens(text), size), "word")

    @property
    def chars(self) -> tuple[str, ...]:
        """The single characters of the vocabulary, in id order (all of it for a character vocabulary)."""
        if self.unit == "char":
            return self.tokens
        return tuple(t for t in self.tokens if len(t) == 1)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def token_lengths(self) -> list[int]:
        """How many characters each id writes, in id order."""
        return [len(t) for t in self.tokens]

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, in order of appearance."""
        chars = self._chars
        return list(dict.fromkeys(ch for ch in text if ch not in chars))

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``: one per character, or for a word vocabulary one per token of
        :func:`split_tokens` (a token not in the vocabulary spelled out in characters).

        Raises :class:`UnknownCharactersError` naming the characters the vocabulary does not have.
        """
        index = self._index
        try:
            if self.unit == "char":
                return [index[ch] for ch in text]
            ids: list[int] = []
            for token in split_tokens(text):
                found = index.get(token)
                if found is None:
                    ids.extend(index[ch] for ch in token)
                else:
                    ids.append(found)
            return ids
        except KeyError:
            raise UnknownCharactersError(self.unknown(text)) from None

    def encode_lenient(self, text: str) -> tuple[list[int], list[str]]:
        """Ids of ``text`` without its unknown characters, and the distinct unknown ones that were dropped."""
        chars = self._chars
        kept = "".join(ch for ch in text if ch in chars)
        dropped = self.unknown(text) if len(kept) != len(text) else []
        return self.encode(kept), dropped

    def decode(self, ids: Iterable[int]) -> str:
        """The text that ``ids`` stand for."""
        tokens = self.tokens
        return "".join(tokens[i] for i in ids)

    def to_list(self) -> list[str]:
        """The tokens as a JSON-able list."""
        return list(self.tokens)

    @classmethod
    def from_list(cls, tokens: Sequence[str], unit: str = "char") -> Vocab:
        """Rebuild a vocabulary stored with :meth:`to_list`."""
        return cls(tuple(tokens), unit)
