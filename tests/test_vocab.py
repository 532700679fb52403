import pytest

from chargen.errors import UnknownCharactersError
from chargen.vocab import Vocab


@pytest.mark.parametrize("text", ["", "a", "hello world\n", "héllo 中文 🙂 naïve", "\t\r\n\x00 \u200b"])
def test_round_trip(text: str) -> None:
    vocab = Vocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert len(vocab) == len(set(text))


def test_order_is_stable_code_point_order() -> None:
    assert Vocab.from_text("cba🙂é").chars == ("a", "b", "c", "é", "🙂")
    assert Vocab.from_text("banana") == Vocab.from_text("nabana")


def test_emoji_is_one_character_not_bytes() -> None:
    vocab = Vocab.from_text("🙂")
    assert vocab.encode("🙂🙂") == [0, 0]


def test_strict_mode_names_unknown_characters() -> None:
    vocab = Vocab.from_text("abc")
    with pytest.raises(UnknownCharactersError) as info:
        vocab.encode("abxyx中")
    assert info.value.unknown == ["x", "y", "中"]
    assert "'x'" in str(info.value) and "'中'" in str(info.value)


def test_lenient_mode_drops_and_reports() -> None:
    vocab = Vocab.from_text("abc ")
    ids, dropped = vocab.encode_lenient("a Zb🙂Z c")
    assert vocab.decode(ids) == "a b c"
    assert dropped == ["Z", "🙂"]
    assert vocab.encode_lenient("abc") == (vocab.encode("abc"), [])


def test_json_list_round_trip() -> None:
    vocab = Vocab.from_text("xyz é")
    assert Vocab.from_list(vocab.to_list()) == vocab


@pytest.mark.parametrize("chars", [["a", "a"], ["ab"], [""], [1]])
def test_invalid_vocabularies_are_refused(chars: list) -> None:
    with pytest.raises(ValueError):
        Vocab.from_list(chars)
