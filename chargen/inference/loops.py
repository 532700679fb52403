"""Loop detection: does a text end by repeating one piece over and over?

Greedy decoding of a recurrent model often falls into a cycle ("the company and a second the
company and a second ..."). :func:`find_loop` finds the periodic tail of a text: the longest
suffix that repeats a unit at least ``min_repeats`` times, and the shortest such unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from chargen.errors import ConfigError

MIN_LOOP_CHARS = 8
"""A tail shorter than this is not called a loop, so a text ending in "ll" or "  " is not one."""


@dataclass(frozen=True)
class Loop:
    """A repeating tail of a text: ``text[start:]`` is ``unit`` repeated (the last copy may be cut short)."""

    start: int
    period: int
    unit: str
    length: int
    """How many characters the repeating tail covers (``len(text) - start``)."""

    @property
    def repeats(self) -> float:
        """How many times the unit occurs in the tail (fractional when the last copy is cut short)."""
        return self.length / self.period

    def describe(self, what: str = "greedy output") -> str:
        """One line for people, e.g. ``greedy output repeats every 23 characters from character 140``.

        Positions count from 1, as the page's loop line does: the tail starts at character
        ``start + 1`` (``start`` itself is an index into the text)."""
        unit = "character" if self.period == 1 else "characters"
        return f"{what} repeats every {self.period} {unit} from character {self.start + 1}"


def _trailing_matches(reversed_text: str) -> list[int]:
    """Z-array of ``reversed_text``: entry ``p`` counts the tail positions ``i`` with ``text[i] == text[i - p]``.

    Those are contiguous from the end, so ``z[p] + p`` is the length of the longest suffix with
    period ``p``. The Z-algorithm does all periods in O(n) instead of O(n^2).
    """
    n = len(reversed_text)
    z = [0] * n
    if n:
        z[0] = n
    left = right = 0
    for i in range(1, n):
        if i < right:
            z[i] = min(right - i, z[i - left])
        while i + z[i] < n and reversed_text[z[i]] == reversed_text[i + z[i]]:
            z[i] += 1
        if i + z[i] > right:
            left, right = i, i + z[i]
    return z


def find_loop(text: str, min_repeats: int = 2, min_length: int = MIN_LOOP_CHARS) -> Loop | None:
    """The repeating tail of ``text``, or ``None`` if it does not end in a loop.

    A loop is a suffix of at least ``min_length`` characters that is a unit repeated at least
    ``min_repeats`` whole times (the copy at the very end may be cut short). Of the periods
    that qualify, the shortest one whose tail falls less than one period short of the longest
    tail wins: "abababab" is period 2, not 4, even when a few characters before the loop
    happen to match four back.
    """
    if isinstance(min_repeats, bool) or not isinstance(min_repeats, int) or min_repeats < 2:
        raise ConfigError(f"min_repeats must be an integer of at least 2, got {min_repeats!r}")
    if isinstance(min_length, bool) or not isinstance(min_length, int) or min_length < 1:
        raise ConfigError(f"min_length must be an integer of at least 1, got {min_length!r}")
    n = len(text)
    z = _trailing_matches(text[::-1])
    tails = {}  # period -> length of the longest suffix with that period
    for period in range(1, n // min_repeats + 1):
        length = z[period] + period
        if length >= min_repeats * period and length >= min_length:
            tails[period] = length
    if not tails:
        return None
    longest = max(tails.values())
    period = min(p for p, length in tails.items() if length > longest - p)
    start = n - tails[period]
    return Loop(start=start, period=period, unit=text[start : start + period], length=tails[period])
