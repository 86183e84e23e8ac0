"""On-disk embedding cache: vectors keyed by everything that changes them, in a safe format.

A *namespace* is one encoder configuration: the weights digest (plus hub id and revision), a digest
of the tokenizer and model config files, the maximum length, the text prefix, the strategy (pooling
function, layers, normalisation) and the dtype. Inside it, each text is keyed by the SHA-256 of its
UTF-8 bytes. Changing any part of the namespace key gives a different folder, so stale vectors can
never be served.

Entries are safetensors shards (``keys``: uint8[n, 32], ``vectors``: float32[n, d], ``lengths``:
int64[n] token counts before truncation) with a SHA-256 checksum of the tensors in the header, written to a temporary file and renamed into place. A shard
that does not load or fails its checksum is reported, deleted and its texts recomputed; it is never
used. No pickle anywhere.

The cache is an accelerator, never a point of failure: when it cannot be written (a full disk, a folder
of another user) the run warns once and continues in memory, and a shard or folder this user may not
read is reported with its owner and mode, recomputed, and never deleted as corrupt.

Sharing a cache with a group: make its root group-writable and setgid (``chgrp GROUP ROOT; chmod 2775
ROOT``). Namespace folders and shards then take the root's group and other permissions whatever each
user's umask (folders also its setgid bit), so every member reads and extends the others' vectors.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from bench.atomic import DIR_MODE, FILE_MODE, remove_stale_temporaries, write_text_atomic, write_with
from bench.digests import digest_json

log = logging.getLogger(__name__)

FORMAT = "bench-embedding-cache-1"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def namespace_id(key: dict) -> str:
    """Folder name for a namespace key. The bench version is part of it: a fix to the encoding code
    must not be masked by vectors cached by the old code."""
    from bench import __version__

    return digest_json({"format": FORMAT, "bench": __version__, **key}, 32)


def _checksum(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def shared_modes(root: Path) -> tuple[int, int]:
    """(folder mode, file mode) of what bench creates under the cache ``root``: the umask's, plus the read and
    write permissions the root grants its group and others (and its setgid bit, for folders), so a cache
    root made group-writable is shared whatever the umask of each user who writes into it."""
    try:
        mode = root.stat().st_mode
    except OSError:
        return DIR_MODE, FILE_MODE
    return DIR_MODE | (mode & 0o077) | (mode & stat.S_ISGID), FILE_MODE | (mode & 0o066)


def describe(path: Path) -> str:
    """``path`` with its owner, group and mode, for a message about a permission problem."""
    import grp
    import pwd

    try:
        info = path.stat()
    except OSError as exc:
        return f"{path} ({exc.strerror or exc})"
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return f"{path} (owner {owner}, group {group}, mode {stat.S_IMODE(info.st_mode):04o})"


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


class WriteState:
    """Whether a cache still takes writes: the first failure turns writing off for the rest of the run,
    with one warning, and the run continues with the vectors in memory."""

    def __init__(self):
        self.failed: str | None = None

    def fail(self, directory: Path, exc: BaseException) -> None:
        if self.failed is not None:
            return
        self.failed = reason = _write_problem(directory, exc)
        log.warning("embedding cache: cannot write to %s: %s. This run continues in memory: the results are "
                    "unaffected, but its vectors are not cached.", directory, reason)


def _write_problem(directory: Path, exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.ENOSPC, errno.EDQUOT) or "No space left" in text or "StorageFull" in text \
            or "Disk quota" in text:
        return ("the disk is full (no space left on device); free space, point cache.dir at another disk, or "
                "run with cache.enabled=false")
    if code == errno.EROFS or "Read-only file system" in text:
        return "the file system is read-only; its vectors are still read, new ones are not stored"
    if code in (errno.EACCES, errno.EPERM) or "PermissionDenied" in text or "ermission denied" in text:
        folder = next((p for p in (directory, *directory.parents) if _exists(p)), directory)
        return (f"permission denied for you ({_user()}) in {describe(folder)}; to share a cache, its owner makes the "
                f"root group-writable and setgid (chmod 2775, chgrp GROUP), or use your own cache.dir")
    return f"{exc.__class__.__name__}: {text.splitlines()[0] if text else ''}"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # inside a folder this user may not search
        return False


class CacheNamespace:
    """The vectors of one encoder configuration."""

    def __init__(self, directory: Path, key: dict, writes: WriteState | None = None):
        self.directory = directory
        self.key = key
        self.writes = writes or WriteState()
        self._index: dict[bytes, tuple[int, int]] | None = None
        self._shards: list[tuple[np.ndarray, np.ndarray]] = []

    def _shard_paths(self) -> list[Path]:
        """The shards in the folder; none (with a warning naming the owner and mode) when it cannot be read."""
        try:
            with os.scandir(self.directory) as entries:
                return sorted(Path(e.path) for e in entries if e.name.endswith(".safetensors"))
        except FileNotFoundError:
            return []
        except PermissionError:
            log.warning("embedding cache: %s cannot be read by you (%s); its vectors are recomputed. To share a "
                        "cache, its owner makes the cache root group-writable and setgid (chmod 2775, chgrp GROUP): "
                        "new folders then follow it.", describe(self.directory), _user())
            return []

    def _load(self) -> None:
        self._index, self._shards = {}, []
        paths = self._shard_paths()
        if not paths:
            return
        remove_stale_temporaries(self.directory)  # left by writers that were killed mid-write
        unreadable = []
        for path in paths:
            try:
                open(path, "rb").close()
            except PermissionError:  # another user's private shard: not corrupt, never deleted
                unreadable.append(path)
                continue
            except FileNotFoundError:  # deleted by a concurrent reader that found it corrupt
                continue
            try:
                with safe_open(str(path), framework="np") as handle:
                    metadata = handle.metadata() or {}
                    keys, vectors = handle.get_tensor("keys"), handle.get_tensor("vectors")
                    lengths = handle.get_tensor("lengths")
                if metadata.get("checksum") != _checksum(keys, vectors, lengths) or not (
                        keys.shape[0] == vectors.shape[0] == lengths.shape[0]):
                    raise ValueError("checksum mismatch")
            except Exception as exc:  # truncated, garbled, or tampered with
                log.warning("embedding cache: %s is corrupt (%s); deleting it, its vectors will be recomputed.",
                            path, exc)
                try:
                    path.unlink(missing_ok=True)
                except OSError as error:
                    log.warning("embedding cache: cannot delete %s (%s); it is skipped.", describe(path),
                                error.strerror or error)
                continue
            self._add(keys, vectors, lengths)
        if unreadable:
            log.warning("embedding cache: %d shard(s) cannot be read by you (%s), e.g. %s; they are left in place "
                        "and their vectors recomputed. Shards follow the cache root's group permissions: make the "
                        "root group-writable and setgid (chmod 2775) to share them.", len(unreadable), _user(),
                        describe(unreadable[0]))

    def _add(self, keys: np.ndarray, vectors: np.ndarray, lengths: np.ndarray) -> None:
        shard = len(self._shards)
        self._shards.append((vectors, lengths))
        for row, k in enumerate(keys):
            self._index[k.tobytes()] = (shard, row)

    def lookup(self, texts: Sequence[str]) -> tuple[dict[int, tuple[np.ndarray, int]], list[int]]:
        """Cached (vector, token length) by position in ``texts``, and the positions that are missing."""
        if self._index is None:
            self._load()
        found, missing = {}, []
        for i, text in enumerate(texts):
            hit = self._index.get(text_key(text))
            if hit is None:
                missing.append(i)
            else:
                vectors, lengths = self._shards[hit[0]]
                found[i] = (vectors[hit[1]], int(lengths[hit[1]]))
        return found, missing

    def store(self, texts: Sequence[str], vectors: np.ndarray, lengths: np.ndarray) -> Path | None:
        """Write a shard of these vectors; None when there is nothing to write or the cache cannot be written
        (a full disk, a folder of another user): the first such failure is one warning, and the run goes on."""
        if not len(texts) or self.writes.failed is not None:
            return None
        keys = np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(len(texts), 32)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        path = self.directory / f"{uuid.uuid4().hex}.safetensors"
        try:
            file_mode = self._prepare_folder()
            write_with(path, lambda tmp: save_file({"keys": keys, "vectors": vectors, "lengths": lengths}, tmp,
                                                   metadata={"format": FORMAT,
                                                             "checksum": _checksum(keys, vectors, lengths)}),
                       permissions=file_mode)
        except (OSError, SafetensorError) as exc:
            self.writes.fail(self.directory, exc)
            return None
        if self._index is not None:
            self._add(keys, vectors, lengths)
        return path

    def _prepare_folder(self) -> int:
        """Create the namespace folder (with the root's shared permissions) and its key; the shards' file mode."""
        dir_mode, file_mode = shared_modes(self.directory.parent)
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
            try:
                os.chmod(self.directory, dir_mode)  # mkdir's mode is cut by the umask
            except PermissionError:  # made by another user at the same moment
                pass
        key_file = self.directory / "key.json"
        if not key_file.exists():
            write_text_atomic(key_file, json.dumps(self.key, indent=2, sort_keys=True), permissions=file_mode)
        return file_mode


class EmbeddingCache:
    """The cache folder (``data/cache/`` by default). ``enabled=False`` makes every lookup miss."""

    def __init__(self, root: str | Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled
        self.writes = WriteState()  # one for all namespaces: one warning per run when the cache cannot be written

    def namespace(self, key: dict) -> CacheNamespace | None:
        if not self.enabled:
            return None
        return CacheNamespace(self.root / namespace_id(key), key, self.writes)

    def summary(self) -> dict:
        spaces = self._namespaces()
        files = [f for d in spaces for f in d.glob("*.safetensors")]
        return {"path": str(self.root), "namespaces": len(spaces), "shards": len(files),
                "bytes": sum(f.stat().st_size for f in files)}

    def _namespaces(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [d for d in self.root.iterdir() if d.is_dir() and len(d.name) == 32 and all(c in "0123456789abcdef" for c in d.name)]

    def clear(self) -> int:
        """Delete every namespace folder (nothing else in the cache root is touched)."""
        spaces = self._namespaces()
        for directory in spaces:
            shutil.rmtree(directory, ignore_errors=True)
        return len(spaces)


def main(argv: Sequence[str] | None = None) -> int:
    """``bench-cache [--dir DIR] [--clear]``: show the cache's size, or empty it."""
    from bench.commands import command_parser
    from bench.config import conf_values

    parser = command_parser("bench-cache", main.__doc__)
    default = conf_values("paths", "default")["cache"]
    parser.add_argument("--dir", default=default, help=f"cache folder (the config's cache.dir; default {default})")
    parser.add_argument("--clear", action="store_true", help="delete every cached namespace")
    args = parser.parse_args(argv)
    cache = EmbeddingCache(args.dir)
    if args.clear:
        print(f"removed {cache.clear()} namespace(s) from {args.dir}")
    info = cache.summary()
    print(f"{info['path']}: {info['namespaces']} namespace(s), {info['shards']} shard(s), "
          f"{info['bytes'] / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
