import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from chargen import CheckpointError, load_model, save_checkpoint
from chargen.model import CELLS
from tests.helpers import tiny_model


@pytest.mark.parametrize("cell", CELLS)
def test_round_trip_gives_identical_weights_and_logits(tmp_path: Path, cell: str) -> None:
    model = tiny_model(cell, vocab="ab é中🙂\n")
    save_checkpoint(model, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(tmp_path / "ckpt")
    assert loaded.vocab == model.vocab and loaded.config == model.config
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    ids = torch.tensor([model.vocab.encode("é中🙂ab")])
    with torch.no_grad():
        assert torch.equal(model(ids)[0], loaded(ids)[0])


def test_config_holds_every_hyperparameter_and_the_vocab(tmp_path: Path) -> None:
    save_checkpoint(tiny_model("gru", vocab="xyz", hidden=12, layers=3, dropout=0.2), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config == {
        "vocab": ["x", "y", "z"],
        "cell": "gru",
        "embedding_size": 8,
        "hidden_size": 12,
        "num_layers": 3,
        "dropout": 0.2,
        "format": "chargen",
        "format_version": 2,
    }


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    save_checkpoint(tiny_model("lstm"), folder)
    return folder


def test_truncated_weights_are_refused(saved: Path) -> None:
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="model.safetensors: not a valid safetensors file"):
        load_model(saved)


def test_corrupted_header_is_refused(saved: Path) -> None:
    weights = saved / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:20] = b"garbage!!!!!"
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_model(saved)


def test_pickle_renamed_to_safetensors_is_refused_and_never_unpickled(saved: Path, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (saved / "model.safetensors").write_bytes(pickle.dumps({"w": Payload()}))
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_model(saved)
    assert not marker.exists()


def test_folder_with_only_pickled_weights_is_refused(saved: Path) -> None:
    (saved / "model.safetensors").rename(saved / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"only pickled weights \(pytorch_model.bin\).*never unpickles"):
        load_model(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.pop("hidden_size"), "missing key"),
        (lambda c: c.update(extra=1), "unknown key"),
        (lambda c: c.update(hidden_size="16"), "hidden_size must be a positive integer"),
        (lambda c: c.update(format="gpt2"), "not a chargen model"),
    ],
)
def test_bad_config_is_refused_naming_the_file(saved: Path, edit, message: str) -> None:
    config = json.loads((saved / "config.json").read_text())
    edit(config)
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as info:
        load_model(saved)
    assert "config.json" in str(info.value) and message in str(info.value)


def test_config_that_is_not_json_is_refused(saved: Path) -> None:
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        load_model(saved)


def test_vocabulary_that_does_not_match_the_weights_is_refused(saved: Path) -> None:
    config = json.loads((saved / "config.json").read_text())
    config["vocab"].append("Q")
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does the vocabulary match the weights"):
        load_model(saved)


def test_missing_and_extra_tensors_are_refused(saved: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(saved / "model.safetensors")
    tensors.pop("head.bias")
    tensors["mystery"] = torch.zeros(2)
    save_file(tensors, saved / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing tensors \['head.bias'\]; unexpected tensors \['mystery'\]"):
        load_model(saved)


def test_non_finite_weights_are_refused(saved: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(saved / "model.safetensors")
    tensors["head.bias"][0] = float("nan")
    save_file(tensors, saved / "model.safetensors")
    with pytest.raises(CheckpointError, match="head.bias is not finite"):
        load_model(saved)


def test_missing_folder_and_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(tmp_path)


# --- a save is atomic as a pair -----------------------------------------------------------------


class _Killed(BaseException):
    """Stands for the process dying at a given write (nothing after it happens)."""


def _save_killed_at(monkeypatch, model, folder: Path, file_name: str) -> None:
    """save_checkpoint, with the process 'killed' as it is about to replace ``file_name``."""
    import chargen.checkpoint as checkpoint

    real = checkpoint.write_atomic

    def dying(path, write):
        if Path(path).name == file_name:
            raise _Killed
        real(path, write)

    monkeypatch.setattr(checkpoint, "write_atomic", dying)
    monkeypatch.setattr(checkpoint, "write_text_atomic", lambda path, text: dying(path, _text_writer(text)))
    with pytest.raises(_Killed):
        save_checkpoint(model, folder)
    monkeypatch.undo()


def _text_writer(text: str):
    return lambda tmp: Path(tmp).write_text(text, encoding="utf-8")


def test_a_save_killed_midway_never_loads_as_a_mix_of_two_models(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "model"
    old = tiny_model("lstm", vocab="abcdefgh \n", seed=1)
    save_checkpoint(old, folder)
    # Same shapes, another vocabulary: weights of one with the config of the other would load
    # and write the wrong characters.
    new = tiny_model("lstm", vocab="ABCDEFGH \n", seed=2)
    for file_name in ("config.json", "model.safetensors"):
        _save_killed_at(monkeypatch, new, folder, file_name)
        try:
            loaded = load_model(folder)
        except CheckpointError as exc:
            assert "saved with a different config.json" in str(exc)
        else:  # only the old pair, whole, may load
            assert loaded.vocab == old.vocab
            loaded_state, old_state = loaded.state_dict(), old.state_dict()
            assert all(torch.equal(loaded_state[name], old_state[name]) for name in old_state)
    save_checkpoint(new, folder)
    assert load_model(folder).vocab == new.vocab


def test_a_first_save_killed_midway_leaves_nothing_loadable(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "model"
    _save_killed_at(monkeypatch, tiny_model("gru"), folder, "model.safetensors")
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_model(folder)


def test_saving_never_reads_or_changes_the_process_umask(tmp_path: Path, monkeypatch) -> None:
    import os

    def umask(mask: int) -> int:  # threads saving at once would race on a set-and-restore
        raise AssertionError("the library changed the process umask")

    monkeypatch.setattr(os, "umask", umask)
    save_checkpoint(tiny_model("gru"), tmp_path / "model")
    load_model(tmp_path / "model")


def test_the_folder_is_fsynced_after_the_renames(tmp_path: Path, monkeypatch) -> None:
    import os
    import stat

    folder = tmp_path / "model"
    folder.mkdir()
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_ino, stat.S_ISDIR(info.st_mode)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    save_checkpoint(tiny_model("gru"), folder)
    if os.name == "posix":
        assert synced[-1] == (folder.stat().st_ino, True)  # the last word: the folder, after the weights' rename


def test_weights_are_read_in_one_go_with_their_metadata(saved: Path) -> None:
    from chargen.checkpoint import CONFIG_DIGEST_KEY, read_weights_and_metadata

    tensors, metadata = read_weights_and_metadata(saved / "model.safetensors")
    assert set(tensors) == set(tiny_model("lstm").state_dict())
    assert len(metadata[CONFIG_DIGEST_KEY]) == 32


# --- format versions: every checkpoint written before keeps loading ------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_checkpoint_written_before_format_versions_still_loads_and_generates_the_same() -> None:
    """tests/fixtures/checkpoint-v1 was written by chargen as of commit ee9184a (config.json without
    format_version, weights without a config digest); the expected texts and logits were computed then."""
    from chargen import compare

    expected = json.loads((FIXTURES / "checkpoint-v1.expected.json").read_text(encoding="utf-8"))
    model = load_model(FIXTURES / "checkpoint-v1")
    assert model.config.format_version == 1
    with torch.no_grad():
        logits, _ = model(torch.tensor([model.vocab.encode(expected["logits_prompt"])]))
    assert logits[0, -1].tolist() == pytest.approx(expected["last_logits"], abs=1e-5)
    result = compare(
        model,
        expected["prompt"],
        expected["length"],
        temperature=expected["temperature"],
        seed=expected["seed"],
        precision=expected["precision"],
    )
    assert (result.greedy, result.sampled) == (expected["greedy"], expected["sampled"])


def test_saving_a_version_1_checkpoint_again_writes_the_current_format(tmp_path: Path) -> None:
    model = load_model(FIXTURES / "checkpoint-v1")
    save_checkpoint(model, tmp_path / "again")
    assert json.loads((tmp_path / "again" / "config.json").read_text(encoding="utf-8"))["format_version"] == 2
    assert load_model(tmp_path / "again").config == model.config


def test_a_config_from_a_newer_chargen_is_refused_saying_so(saved: Path) -> None:
    config = json.loads((saved / "config.json").read_text(encoding="utf-8"))
    config["format_version"] = 4
    config["attention_heads"] = 4  # what a later version might add
    (saved / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"config.json: written by a newer chargen \(format_version 4\)"):
        load_model(saved)
