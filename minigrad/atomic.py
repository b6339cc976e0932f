"""atomic_write: the one way minigrad writes a file (checkpoints, pictures, charts).

    with atomic_write("runs/model.npz") as f:   # f is a binary file opened on a temporary
        f.write(data)                           # renamed over the target when the block ends

The data goes to a temporary file beside the target, is flushed to disk, then renamed over the
target, so a reader (or a crash, or kill -9) sees the old file or the new one, never half of
one. Around that rename:

- any failure, including KeyboardInterrupt, removes the temporary file;
- a temporary left behind by a process that was killed (its pid no longer runs) is removed the
  next time the same target is written: the name `.{target}.{pid}.{random}.minigrad-tmp` says
  whose it was;
- an existing target keeps its permission bits (a 0600 checkpoint stays 0600); a new file gets
  the umask's;
- a symlink is written through: its target file is replaced and the link stays a link;
- a directory as the target is refused with IsADirectoryError before anything is written.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import BinaryIO

TEMP_SUFFIX = ".minigrad-tmp"


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # someone else's process, or no way to tell: keep its file
        return True
    return True


def remove_stale_temporaries(target: str) -> list[str]:
    """Delete the temporaries of `target` whose writer no longer runs; returns their paths."""
    directory, name = os.path.split(target)
    prefix = f".{name}."
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory or "."):
            if not (entry.startswith(prefix) and entry.endswith(TEMP_SUFFIX)):
                continue
            pid_text = entry[len(prefix):-len(TEMP_SUFFIX)].split(".")[0]
            if pid_text.isdigit() and not _pid_running(int(pid_text)):
                path = os.path.join(directory, entry)
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    removed.append(path)
    return removed


def check_writable(path: str | os.PathLike) -> str:
    """The real path a write to `path` would replace, or a one-line OSError saying why it cannot
    be written (a directory, a missing or unwritable parent). Writes nothing."""
    target = os.path.realpath(os.fspath(path))
    if os.path.isdir(target):
        raise IsADirectoryError(f"{os.fspath(path)} is a directory, not a file")
    parent = os.path.dirname(target)
    existing = parent
    while existing and not os.path.exists(existing):  # the first ancestor that exists
        existing = os.path.dirname(existing)
    if existing and not os.path.isdir(existing):
        raise NotADirectoryError(f"cannot write {os.fspath(path)}: {existing} is a file, not a directory")
    if existing and not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write {os.fspath(path)}: {existing} is not writable")
    return target


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file to write the new contents of `path` into; see the module docstring."""
    target = check_writable(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(target)
    temp = os.path.join(directory,
                        f".{os.path.basename(target)}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    # O_EXCL: never open another writer's file; 0o666 lets the umask decide a new file's mode.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))  # keep an existing file's mode
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` by `data`, atomically."""
    with atomic_write(path) as f:
        f.write(data)


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
