"""The one atomic writer: temporaries removed on failure and after kill -9, modes and symlinks
kept, and the hardened .npz reader that refuses what a small file must not make it do."""
from __future__ import annotations

import ast
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigrad
from minigrad.atomic import TEMP_SUFFIX, atomic_write, check_writable, write_bytes


def temporaries(directory) -> list[str]:
    return [p for p in os.listdir(directory) if p.endswith(TEMP_SUFFIX)]


def _direct_writes(tree: ast.AST) -> list[int]:
    """Lines that write a file without atomic_write: open() in a writing mode, Path.write_text
    or Path.write_bytes (an archive member opened inside an atomic file is not a file)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("write_text", "write_bytes"):
            found.append(node.lineno)
        if isinstance(func, ast.Name) and func.id == "open":
            modes = [a for a in node.args[1:2] + [k.value for k in node.keywords if k.arg == "mode"]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if any(set(m.value) & set("wax+") for m in modes):
                found.append(node.lineno)
    return found


def test_every_writer_goes_through_the_atomic_helper():
    root = Path(__file__).parent.parent
    sources = [p for package in ("minigrad", "transformer") for p in sorted((root / package).rglob("*.py"))
               if p.name != "atomic.py"]
    direct = [f"{p.relative_to(root)}:{line}" for p in sources
              for line in _direct_writes(ast.parse(p.read_text(encoding="utf-8")))]
    assert not direct, f"files written without minigrad.atomic: {direct}"
    assert _direct_writes(ast.parse("open(p, 'w').write(x); Path(p).write_text(x)")) == [1, 1]


def test_failure_inside_the_block_removes_the_temporary_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    for error in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with atomic_write(target) as f:
                f.write(b"half")
                raise error
    assert target.read_bytes() == b"old" and temporaries(tmp_path) == []


def test_existing_permissions_are_kept(tmp_path):
    target = tmp_path / "secret.npz"
    minigrad.save({"x": np.ones(2)}, target)
    os.chmod(target, 0o600)
    minigrad.save({"x": np.zeros(2)}, target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert (minigrad.load(target)["x"] == 0).all()


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "real" / "model.npz"
    real.parent.mkdir()
    minigrad.save({"x": np.ones(2)}, real)
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    minigrad.save({"x": np.zeros(3)}, link)
    assert link.is_symlink() and minigrad.load(real)["x"].shape == (3,)
    assert temporaries(tmp_path) == [] and temporaries(real.parent) == []


def test_directories_and_files_as_parents_are_refused(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        write_bytes(tmp_path, b"x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        check_writable(tmp_path / "file" / "sub.npz")


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".a.npz.{pid}.deadbeef{TEMP_SUFFIX}"
    stale.write_bytes(b"junk")
    mine = tmp_path / f".a.npz.{os.getpid()}.cafecafe{TEMP_SUFFIX}"  # a live writer's: kept
    mine.write_bytes(b"in progress")
    other = tmp_path / f".b.npz.{pid}.deadbeef{TEMP_SUFFIX}"  # another target's: not ours to judge now
    other.write_bytes(b"junk")
    write_bytes(tmp_path / "a.npz", b"new")
    assert not stale.exists() and mine.exists() and other.exists()


WRITER = """
import sys, numpy as np, minigrad
path, value = sys.argv[1], float(sys.argv[2])
print("ready", flush=True)
while True:
    minigrad.save({"x": np.full(1_000_000, value, dtype=np.float32)}, path)
"""


def test_kill_9_during_save_leaves_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "ck.npz"
    minigrad.save({"x": np.full(1_000_000, -1.0, dtype=np.float32)}, target)
    rng = np.random.default_rng(0)
    for trial in range(8):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(trial)],
                                 stdout=subprocess.PIPE, cwd=os.getcwd())
        child.stdout.readline()
        time.sleep(float(rng.uniform(0.0, 0.15)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        values = set(np.unique(minigrad.load(target)["x"]).tolist())
        assert len(values) == 1 and values.pop() in {-1.0, *range(trial + 1)}
    minigrad.save({"x": np.zeros(1)}, target)  # the next save cleans what the killed ones left
    assert temporaries(tmp_path) == []


# ----- the reader: a small file never makes load allocate much more than its size ------------
def test_a_header_claiming_a_huge_array_is_refused_without_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    with zipfile.ZipFile(path, "w") as archive, archive.open("x.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, header)
        member.write(b"\0" * 16)
    with pytest.raises(ValueError, match=r"'x'.*claims shape \(1000000000000,\).*truncated or corrupt"):
        minigrad.load(path)


def test_a_compressed_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros(20_000_000, dtype=np.uint8))
    assert path.stat().st_size < 100_000
    with pytest.raises(ValueError, match="would expand to 20000"):
        minigrad.load(path)


def test_compressed_archives_of_real_data_load(tmp_path):
    path = tmp_path / "ok.npz"
    x = np.random.default_rng(0).standard_normal((30, 7))
    np.savez_compressed(path, x=x, f=np.asfortranarray(x))
    out = minigrad.load(path)
    assert (out["x"] == x).all() and (out["f"] == x).all() and out["x"].flags.writeable


def test_a_member_that_is_not_an_array_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"")
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match="load: "):
        minigrad.load(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match="'notes.txt'.*is not an .npy array"):
        minigrad.load(path)


def test_truncated_files_are_one_line_errors(tmp_path):
    good = tmp_path / "good.npz"
    minigrad.save({"a": np.arange(1000.0), "b": np.ones(3)}, good)
    data = good.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError) as error:
            minigrad.load(bad)
        assert "\n" not in str(error.value) and str(bad) in str(error.value)
