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
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from bench.atomic import remove_stale_temporaries, write_text_atomic, write_with
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


class CacheNamespace:
    """The vectors of one encoder configuration."""

    def __init__(self, directory: Path, key: dict):
        self.directory = directory
        self.key = key
        self._index: dict[bytes, tuple[int, int]] | None = None
        self._shards: list[tuple[np.ndarray, np.ndarray]] = []

    def _load(self) -> None:
        self._index, self._shards = {}, []
        if not self.directory.is_dir():
            return
        remove_stale_temporaries(self.directory)  # left by writers that were killed mid-write
        for path in sorted(self.directory.glob("*.safetensors")):
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
                path.unlink(missing_ok=True)
                continue
            self._add(keys, vectors, lengths)

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
        if not len(texts):
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        key_file = self.directory / "key.json"
        if not key_file.exists():
            write_text_atomic(key_file, json.dumps(self.key, indent=2, sort_keys=True))
        keys = np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(len(texts), 32)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        path = self.directory / f"{uuid.uuid4().hex}.safetensors"
        write_with(path, lambda tmp: save_file({"keys": keys, "vectors": vectors, "lengths": lengths}, tmp,
                                               metadata={"format": FORMAT, "checksum": _checksum(keys, vectors, lengths)}))
        if self._index is not None:
            self._add(keys, vectors, lengths)
        return path


class EmbeddingCache:
    """The cache folder (``data/cache/`` by default). ``enabled=False`` makes every lookup miss."""

    def __init__(self, root: str | Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def namespace(self, key: dict) -> CacheNamespace | None:
        if not self.enabled:
            return None
        return CacheNamespace(self.root / namespace_id(key), key)

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
    """``python -m bench.cache [--dir DIR] [--clear]``: show the cache's size, or empty it."""
    from bench.commands import command_parser
    from bench.config import conf_values

    parser = command_parser("python -m bench.cache", main.__doc__)
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
