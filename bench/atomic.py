"""Atomic file replacement: write a temporary file beside the target, fsync, rename over it.

The one place bench writes files that others may read concurrently (results, per-pair scores, cache
shards, leaderboards, job reports). Files get the permissions the user's umask gives new files (a
temporary file alone would be private, mode 0600, and a shared cache or results folder would then
be unreadable to the rest of a group). Leftover temporary files of killed writers are named
``.<name>.<random>.tmp`` and removed by :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Mode of new files and folders under the process's umask (read once: changing the umask is not thread-safe).
_UMASK = _umask()
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK
#: Temporary files older than this are left over from killed writers.
STALE_SECONDS = 3600


@contextmanager
def temporary_beside(path: Path, permissions: int | None = None):
    """A temporary file name in ``path``'s folder (created empty, with the umask's permissions unless
    ``permissions`` says otherwise); removed on error, else left for the caller to rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE if permissions is None else permissions)
        os.close(fd)
        yield Path(tmp)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_synced(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextmanager
def atomic_file(path: Path, mode: str = "w", permissions: int | None = None):
    """A handle on a temporary file in ``path``'s folder that replaces ``path`` only once fully written
    and fsynced; on any error (or a kill) readers still see the old file or none, never half of one."""
    with temporary_beside(path, permissions) as tmp:
        with open(tmp, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)


def write_with(path: Path, writer: Callable[[str], None], permissions: int | None = None) -> None:
    """Atomically create ``path`` with a library's writer that takes a file name (e.g. safetensors)."""
    with temporary_beside(path, permissions) as tmp:
        writer(str(tmp))
        os.chmod(tmp, FILE_MODE if permissions is None else permissions)  # the writer may have recreated the file
        replace_synced(tmp, path)


def write_text_atomic(path: Path, text: str, permissions: int | None = None) -> None:
    with atomic_file(Path(path), permissions=permissions) as handle:
        handle.write(text)


def write_json_atomic(path: Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def remove_stale_temporaries(folder: Path, older_than: float = STALE_SECONDS) -> int:
    """Delete temporary files that killed writers left in ``folder`` (recent ones may be in use)."""
    removed = 0
    cutoff = time.time() - older_than
    for tmp in folder.glob(".*.tmp"):
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def check_writable_dir(path: str | Path, setting: str) -> Path:
    """Before any work: ``path`` must be (or become) a folder this process can write to."""
    from bench.errors import BenchError

    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise BenchError(f"{setting}={path} is a file, not a folder; point {setting} at a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check.", suffix=".tmp") as probe:
            probe.write(bytes(4096))  # an empty file still fits on a full disk
            probe.flush()
    except OSError as exc:
        raise BenchError(f"{setting}={path} is not writable ({exc.strerror or exc}); choose a folder you can write "
                         f"to, e.g. {setting}=/tmp/bench-{setting.split('.')[0]}.") from None
    return folder
