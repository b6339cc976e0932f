"""save/load: a dict of named arrays to and from an .npz file, safely.

Writing is atomic (`minigrad.atomic.atomic_write`): a crash or kill mid-write leaves the old
file intact, never a truncated one, and no temporary file behind for long.

Reading treats the file as untrusted data:
- nothing is unpickled: object arrays (the only kind that needs pickle, which can run
  arbitrary code) are refused;
- every member must be an .npy array (np.load would hand back raw bytes for anything else);
- each array's header (dtype and shape) is checked against the member's real size before any
  memory is set aside for it, and the archive may not expand to more than
  `MAX_EXPANSION` times its own size, so a small file cannot make `load` allocate much more
  than its size;
- a truncated or malformed file is a ValueError naming the file and the member.

Strings are stored as 0-d unicode arrays, so a config can travel as JSON text next to the
weights; `load` returns them as such arrays (`str(arr)` gives the text back).
"""
from __future__ import annotations

import math
import os
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from .atomic import atomic_write
from .tensor import Tensor

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with entries, an empty zip
_NPY_MAGIC = b"\x93NUMPY"
MAX_EXPANSION = 20  # a compressed archive may hold at most this many times its own size (plus 1 MiB)


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
    with atomic_write(path) as f:
        # The layout np.savez writes (one .npy per key in an uncompressed zip), done by hand so
        # that keys like "file" cannot collide with savez's own arguments.
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for key, array in arrays.items():
                with archive.open(key + ".npy", mode="w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)


def _read_member(member: BinaryIO, size: int, where: str) -> np.ndarray:
    """One .npy array from a zip member of `size` bytes, its header checked before its data
    is read (so a header claiming a huge shape costs nothing)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise ValueError(f"{where} uses .npy format version {version}, which minigrad does not read")
    if dtype.hasobject:
        raise ValueError(f"{where} is an object array; it could only be read by unpickling, which can "
                         "run arbitrary code, so minigrad refuses it")
    nbytes = math.prod(shape) * dtype.itemsize
    available = size - member.tell()
    if nbytes != available:
        raise ValueError(f"{where} claims shape {shape} of {dtype} ({nbytes} bytes) but holds {available} "
                         "bytes of data; the file is truncated or corrupt")
    buffer = bytearray(nbytes)
    if member.readinto(memoryview(buffer)) != nbytes:
        raise ValueError(f"{where} is truncated")
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape, order="F" if fortran_order else "C")


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an .npz file written by `save` (or by np.savez / np.savez_compressed) into a dict of
    numpy arrays, refusing object arrays, non-array members and sizes the file cannot hold."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such file: {path!r}" if not os.path.isdir(path)
                                else f"load: {path!r} is a directory, not an .npz file")
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(_NPY_MAGIC):
        raise ValueError(f"load: {path!r} is a single .npy array, not an .npz archive of named arrays")
    if head[:4] not in _ZIP_MAGIC:
        raise ValueError(f"load: {path!r} is not an .npz file (it does not start with the zip signature)")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            expanded = sum(m.file_size for m in members)
            if expanded > MAX_EXPANSION * os.path.getsize(path) + 2**20:
                raise ValueError(f"load: {path!r} would expand to {expanded} bytes, far more than its own "
                                 "size; refusing it")
            for info in members:
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"load: member {info.filename!r} of {path!r} is not an .npy array")
                key = info.filename[: -len(".npy")]
                where = f"load: {key!r} in {path!r}"
                if key in out:
                    raise ValueError(f"{where} appears twice")
                with archive.open(info) as member:
                    out[key] = _read_member(member, info.file_size, where)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise ValueError(f"load: {path!r} is not a valid .npz file ({error})") from None
    except ValueError as error:
        if str(error).startswith("load:"):
            raise
        raise ValueError(f"load: {path!r} is not a valid .npz file ({error})") from None
    return out
