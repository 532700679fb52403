"""The character vocabulary: Unicode code points <-> integer ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chargen.errors import UnknownCharactersError


@dataclass(frozen=True)
class Vocab:
    """An ordered list of distinct characters; a character's id is its index.

    The order is part of a trained model, so it is stored as a JSON list in ``config.json``.
    """

    chars: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chars = tuple(self.chars)
        object.__setattr__(self, "chars", chars)
        bad = [ch for ch in chars if not isinstance(ch, str) or len(ch) != 1]
        if bad:
            raise ValueError(f"vocabulary entries must be single characters, got {bad[:5]!r}")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary has repeated characters")
        object.__setattr__(self, "_index", {ch: i for i, ch in enumerate(chars)})

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        """Build the vocabulary of a corpus: its distinct characters in code point order."""
        return cls(tuple(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self._index

    def unknown(self, text: str) -> list[str]:
        """The distinct characters of ``text`` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(ch for ch in text if ch not in self._index))

    def encode(self, text: str) -> list[int]:
        """Ids of every character of ``text``; raises :class:`UnknownCharactersError` naming unknown ones."""
        try:
            return [self._index[ch] for ch in text]
        except KeyError:
            raise UnknownCharactersError(self.unknown(text)) from None

    def encode_lenient(self, text: str) -> tuple[list[int], list[str]]:
        """Ids of the known characters of ``text`` and the distinct unknown ones that were dropped."""
        index = self._index
        ids = [index[ch] for ch in text if ch in index]
        dropped = self.unknown(text) if len(ids) != len(text) else []
        return ids, dropped

    def decode(self, ids: Iterable[int]) -> str:
        """The text that ``ids`` stand for."""
        chars = self.chars
        return "".join(chars[i] for i in ids)

    def to_list(self) -> list[str]:
        """The characters as a JSON-able list."""
        return list(self.chars)

    @classmethod
    def from_list(cls, chars: Sequence[str]) -> Vocab:
        """Rebuild a vocabulary stored with :meth:`to_list`."""
        return cls(tuple(chars))
