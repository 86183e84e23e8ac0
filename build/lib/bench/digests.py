"""SHA-256 digests: of files (data, weights, tokenizer and config files) and of JSON-able settings.

One place for the hashing conventions every identity in bench relies on (result settings and identity,
cache namespaces, training run folders, data and weight provenance), so two of them never disagree on
how the same thing is hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

BLOCK = 1 << 20


def _update_from_file(digest, path: Path) -> None:
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of one file's bytes (read in 1 MiB blocks: weights can be gigabytes)."""
    digest = hashlib.sha256()
    _update_from_file(digest, Path(path))
    return digest.hexdigest()


def digest_files(root: Path, files: Iterable[Path]) -> str:
    """Hex SHA-256 over the files' paths (relative to ``root``) and bytes, in the order given."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(Path(path).relative_to(root)).encode())
        _update_from_file(digest, Path(path))
    return digest.hexdigest()


def digest_json(payload, length: int = 64) -> str:
    """Hex SHA-256 (its first ``length`` digits) of a JSON-able value in canonical form (sorted keys,
    UTF-8; values JSON cannot hold are written with ``str``)."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]
