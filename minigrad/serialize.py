"""save/load: a dict of named arrays to and from an .npz file, safely.

Safe in two ways. Writing is atomic: the archive is written to a temporary file in the same
directory, flushed to disk, then renamed over the target, so a crash mid-write leaves the old
file intact, never a truncated one. Reading never unpickles: object arrays (the only kind that
needs pickle, and pickle can run arbitrary code) are refused, so a checkpoint is only data.

Strings are stored as 0-d unicode arrays, so a config can travel as JSON text next to the
weights; `load` returns them as such arrays (`str(arr)` gives the text back).
"""
from __future__ import annotations

import contextlib
import os
import uuid
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from .tensor import Tensor

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries, an empty zip
_NPY_MAGIC = b"\x93NUMPY"


def _as_array(key: Any, value: Any) -> np.ndarray:
    if not isinstance(key, str):
        raise TypeError(f"save: keys must be strings, got {key!r}")
    if isinstance(value, Tensor):
        value = value.data
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(
            f"save: {key!r} is an object array ({type(value).__name__}); only numeric, bool and "
            "string arrays can be saved without pickle"
        )
    return array


def save(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write `state_dict` (name -> numpy array, Tensor, number or str) to the .npz file `path`
    exactly (no ".npz" is appended), replacing it atomically."""
    arrays = {key: _as_array(key, value) for key, value in state_dict.items()}
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
    # O_EXCL: never clobber another writer's temp file; mode 0o666 lets the umask decide.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            # The layout np.savez writes (one .npy per key in an uncompressed zip), done by
            # hand so that keys like "file" cannot collide with savez's own arguments.
            with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                for key, array in arrays.items():
                    with archive.open(key + ".npy", mode="w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX). Best effort: the file is already complete, and
    some systems (Windows, some network file systems) cannot sync a directory."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an .npz file written by `save` (or by np.savez) into a dict of numpy arrays,
    refusing object arrays."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(_NPY_MAGIC):
        raise ValueError(f"load: {path!r} is a single .npy array, not an .npz archive of named arrays")
    if head[:4] not in _ZIP_MAGIC:
        raise ValueError(f"load: {path!r} is not an .npz file (it does not start with the zip signature)")
    out: dict[str, np.ndarray] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                try:
                    out[key] = archive[key]
                except ValueError as error:
                    if "allow_pickle" not in str(error):
                        raise
                    raise ValueError(
                        f"load: {key!r} in {path!r} is an object array; it could only be read by "
                        "unpickling, which can run arbitrary code, so minigrad refuses it"
                    ) from None
    except zipfile.BadZipFile as error:
        raise ValueError(f"load: {path!r} is not a valid .npz file ({error})") from None
    return out
