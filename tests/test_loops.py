"""Loop detection on constructed strings, checked against a brute-force oracle."""

from __future__ import annotations

import random

import pytest

from chargen.errors import ConfigError
from chargen.inference.loops import MIN_LOOP_CHARS, Loop, find_loop


def brute_force_loop(text: str, min_repeats: int = 2, min_length: int = MIN_LOOP_CHARS) -> Loop | None:
    """The same rule as find_loop, spelled out naively: O(n^2) tails checked character by character."""
    n = len(text)
    tails = {}
    for period in range(1, n // min_repeats + 1):
        length = period
        while length < n and text[n - 1 - length] == text[n - 1 - length + period]:
            length += 1
        if all(text[i] == text[i - period] for i in range(n - length + period, n)) and (
            length >= min_repeats * period and length >= min_length
        ):
            tails[period] = length
    if not tails:
        return None
    longest = max(tails.values())
    period = min(p for p, length in tails.items() if length > longest - p)
    start = n - tails[period]
    return Loop(start=start, period=period, unit=text[start : start + period], length=tails[period])


def test_the_lessons_loop():
    text = "ROMEO: I am:" + "today of the second the company and a second " * 4
    loop = find_loop(text)
    assert loop == Loop(start=12, period=45, unit="today of the second the company and a second ", length=180)
    assert loop.repeats == 4
    assert loop.describe() == "greedy output repeats every 45 characters from character 13"  # counted from 1


def test_the_last_copy_may_be_cut_short():
    loop = find_loop("hello " + "abcd" * 4 + "ab")
    assert (loop.start, loop.period, loop.unit, loop.length) == (6, 4, "abcd", 18)
    assert loop.repeats == 4.5


def test_the_loop_starts_where_the_repetition_does():
    # "...xbc" before the cycle: the "bc" already belongs to it.
    loop = find_loop("zzzbc" + "abc" * 6)
    assert (loop.start, loop.period, loop.unit) == (3, 3, "bca")


def test_a_period_is_reported_as_its_shortest_unit():
    assert find_loop("ab" * 10).period == 2
    # Two characters before the loop happen to match four back but not two back.
    loop = find_loop("qaxb" + "ab" * 8)
    assert loop.period == 2 and loop.start == 3


def test_a_run_of_one_character_is_a_period_one_loop():
    loop = find_loop("hello" + " " * 20)
    assert (loop.start, loop.period, loop.unit) == (5, 1, " ")
    assert loop.describe() == "greedy output repeats every 1 character from character 6"


def test_describe_names_what_repeats():
    assert find_loop("x" + "abc" * 5).describe("sampled text").startswith("sampled text repeats every 3")


@pytest.mark.parametrize("text", ["", "a", "hello world", "the cat sat on the mat", "all", "ll", "  "])
def test_no_loop(text):
    assert find_loop(text) is None


def test_a_short_tail_is_not_a_loop():
    assert find_loop("hello" + "ab" * 3) is None  # 6 characters < MIN_LOOP_CHARS
    assert find_loop("hello" + "ab" * 3, min_length=4).period == 2


def test_min_repeats():
    text = "xyz" + "abcde" * 2
    assert find_loop(text).period == 5
    assert find_loop(text, min_repeats=3) is None
    assert find_loop("xyz" + "abcde" * 3, min_repeats=3).start == 3


def test_a_loop_must_reach_the_end():
    assert find_loop("abcabcabcabc and then it moved on") is None


@pytest.mark.parametrize("seed", range(40))
def test_matches_a_brute_force_oracle(seed):
    rng = random.Random(seed)
    alphabet = "ab" if seed % 2 else "abc "
    prefix = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
    unit = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))
    text = prefix + unit * rng.randint(0, 6) + unit[: rng.randint(0, len(unit))]
    for min_repeats in (2, 3):
        assert find_loop(text, min_repeats) == brute_force_loop(text, min_repeats), text


def test_is_fast_on_long_texts():
    # 5,000 characters of one letter: every period qualifies; the Z-algorithm stays linear.
    assert find_loop("a" * 5000).period == 1
    assert find_loop("x" + "abcdefghij" * 500) == Loop(1, 10, "abcdefghij", 5000)


@pytest.mark.parametrize("bad", [1, 0, 2.0, True])
def test_bad_min_repeats(bad):
    with pytest.raises(ConfigError, match="min_repeats must be an integer of at least 2"):
        find_loop("abab", min_repeats=bad)


def test_bad_min_length():
    with pytest.raises(ConfigError, match="min_length"):
        find_loop("abab", min_length=0)
