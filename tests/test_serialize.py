"""minigrad.save / minigrad.load: round trips, atomic writes, and no unpickling."""
import json
import os
import pathlib

import numpy as np
import pytest

import minigrad
from minigrad import serialize


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def test_round_trip_keeps_dtypes_shapes_and_values(tmp_path):
    config = json.dumps({"d_model": 8, "name": "tiny"})
    state = {
        "w32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "w64": np.linspace(0, 1, 5),
        "ids": np.array([3, 1, 2], dtype=np.int64),
        "mask": np.array([True, False]),
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "config": config,
        "file": np.ones(2),  # names np.savez would take as its own arguments
        "allow_pickle": np.zeros(1),
        "blocks.0.attn.q_proj.weight": np.ones((2, 2), dtype=np.float32),
    }
    path = tmp_path / "checkpoint.npz"
    minigrad.save(state, path)
    loaded = minigrad.load(path)
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert _same(loaded[key], np.asarray(value)), key
    assert json.loads(str(loaded["config"])) == {"d_model": 8, "name": "tiny"}


def test_tensors_are_saved_as_their_arrays(tmp_path):
    t = minigrad.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    minigrad.save({"t": t}, tmp_path / "t.npz")
    assert _same(minigrad.load(tmp_path / "t.npz")["t"], t.data)


def test_path_is_used_exactly_and_can_be_a_string(tmp_path):
    path = str(tmp_path / "weights")  # np.savez would append ".npz"
    minigrad.save({"a": np.ones(3)}, path)
    assert os.listdir(tmp_path) == ["weights"]
    assert _same(minigrad.load(path)["a"], np.ones(3))


def test_the_file_is_readable_by_numpy(tmp_path):
    minigrad.save({"a": np.arange(3)}, tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as data:
        assert _same(data["a"], np.arange(3))


def test_module_state_dict_round_trip(tmp_path):
    minigrad.manual_seed(0)
    model = minigrad.nn.Sequential(minigrad.nn.Linear(3, 4), minigrad.nn.ReLU(), minigrad.nn.Linear(4, 2))
    minigrad.save(model.state_dict(), tmp_path / "model.npz")
    minigrad.manual_seed(1)
    other = minigrad.nn.Sequential(minigrad.nn.Linear(3, 4), minigrad.nn.ReLU(), minigrad.nn.Linear(4, 2))
    other.load_state_dict(minigrad.load(tmp_path / "model.npz"))
    x = minigrad.randn(5, 3)
    np.testing.assert_array_equal(model(x).data, other(x).data)


def test_a_failed_write_leaves_the_old_file_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    minigrad.save({"step": np.array(1)}, path)
    before = path.read_bytes()

    real_write = np.lib.format.write_array
    calls = []

    def write_then_crash(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first array is already in the temp file
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(serialize.np.lib.format, "write_array", write_then_crash)
    with pytest.raises(OSError, match="disk full"):
        minigrad.save({"step": np.array(2), "w": np.ones(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    monkeypatch.undo()
    assert _same(minigrad.load(path)["step"], np.array(1))


def test_a_failure_before_the_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    def no_fsync(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(serialize.os, "fsync", no_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        minigrad.save({"a": np.ones(3)}, tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_object_arrays_are_refused_on_load(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, ok=np.ones(2), payload=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="'payload'.*object array.*arbitrary code"):
        minigrad.load(path)


def test_object_arrays_are_refused_on_save(tmp_path):
    with pytest.raises(TypeError, match="'bad' is an object array"):
        minigrad.save({"bad": np.array([1, "a", None], dtype=object)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_non_string_keys_are_refused(tmp_path):
    with pytest.raises(TypeError, match="keys must be strings"):
        minigrad.save({0: np.ones(1)}, tmp_path / "x.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file.*nothing.npz"):
        minigrad.load(tmp_path / "nothing.npz")


def test_not_an_npz(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not an .npz file"):
        minigrad.load(text)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(ValueError, match="single .npy array"):
        minigrad.load(single)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    with pytest.raises(ValueError, match="not a valid .npz"):
        minigrad.load(broken)


def test_accepts_pathlib_paths(tmp_path):
    path = pathlib.Path(tmp_path) / "p.npz"
    minigrad.save({"x": np.zeros(2)}, path)
    assert _same(minigrad.load(path)["x"], np.zeros(2))
