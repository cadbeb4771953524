"""Reading and writing files safely: one home for both, used by every module that touches disk.

Reading: open only regular files, with a size limit, and never block. A FIFO (or a device)
named like a data file would make open() or read() wait for ever; a sparse 5 GB file would be
read whole. os.stat says what a path is before it is opened, and O_NONBLOCK plus fstat on the
open descriptor close the gap between the two (the path could be swapped in between).

Writing: a temporary file in the same folder, flushed and fsynced, then os.replace: readers
see the old file or the new one, never half of one, even after kill -9 or a full disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterator

TEMPORARY_SUFFIX = ".tmp"  # atomic_path's temporary files: ".<name>.<random>.tmp", beside <name>
LEFTOVER_AGE_S = 600  # a temporary file or folder untouched this long was left by a killed process
# What a new file's mode would be with a plain open(): mkstemp makes 0600 files.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class UnsafeFileError(OSError):
    """A path that is not a regular file, or a file larger than its limit; the message names it."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike, max_bytes: int | None = None) -> BinaryIO:
    """Open `path` for binary reading if it is a regular file of at most max_bytes bytes.

    Raises FileNotFoundError when it is missing, UnsafeFileError when it is something else
    (folder, FIFO, device) or too large, other OSErrors (permissions, link loops) as they come.
    """
    st = os.stat(path)  # follows links: what matters is what would be read
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(f"{path} is {_kind(st.st_mode)}, not a regular file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)  # the file actually opened, in case the path changed meanwhile
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{path} is {_kind(st.st_mode)}, not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise UnsafeFileError(f"{path} is {_size(st.st_size)}, more than the {_size(max_bytes)} allowed")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n:,} bytes"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that needs a file name (Keras' save, np.savez).

    On success the written file is fsynced and renamed over `path` in one step; on any failure
    (or Ctrl-C) it is removed and `path` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    write_bytes(path, text.encode(encoding))


def write_json(path: str | os.PathLike, obj, **dump_options) -> None:
    write_text(path, json.dumps(obj, **{"indent": 1, **dump_options}) + "\n")


def remove_leftovers(folder: str | os.PathLike, older_than: float = LEFTOVER_AGE_S) -> list[str]:
    """Remove the temporary files atomic_path left in `folder` when a kill came before the rename.

    Only hidden regular files named like atomic_path's, untouched for `older_than` seconds (a write
    in progress is younger); links are never followed. Returns the names removed.
    """
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(TEMPORARY_SUFFIX)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in `folder` durable (best effort: some filesystems cannot fsync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
