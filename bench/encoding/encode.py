"""Turning sentences into vectors: deduplicated, length-sorted, batched, truncated, one pass.

:func:`encode_distinct` is model-agnostic: it deduplicates the texts (CDSC's 2000 test sentences
hold 859 distinct strings), adds the model's prefix, sorts by token length so batches carry little
padding, counts truncated inputs, and asks a backend for each batch. A backend returns one array
per strategy, so several poolings of the same model share one forward pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.encoding.backends import build_exported_backend
from bench.encoding.build import build_backend
from bench.encoding.cache import CacheNamespace
from bench.encoding.parallel import ParallelBackend
from bench.encoding.pooling import PoolingSpec
from bench.encoding.torch_backend import NO_LIMIT
from bench.errors import BenchError

log = logging.getLogger(__name__)


class Backend(Protocol):
    """What :func:`encode_distinct` needs from a model."""

    max_length: int

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]: ...


@dataclass
class Encoded:
    """Vectors for distinct texts, addressable by the original text."""

    index: dict[str, int]
    vectors: dict[str, np.ndarray]
    n_input: int
    n_distinct: int
    n_truncated: int
    n_encoded: int
    seconds: float

    def lookup(self, strategy: str, texts: Sequence[str]) -> np.ndarray:
        rows = np.fromiter((self.index[t] for t in texts), dtype=np.int64, count=len(texts))
        return self.vectors[strategy][rows]

    def stats(self) -> dict:
        return {
            "sentences_total": self.n_input,
            "sentences_distinct": self.n_distinct,
            "sentences_truncated": self.n_truncated,
            "sentences_encoded_this_run": self.n_encoded,
            "sentences_from_cache": self.n_distinct - self.n_encoded,
            "encode_seconds": round(self.seconds, 3),
        }


def check_texts(texts: Sequence[object]) -> None:
    """Every input must be a non-empty string: NaN (a float) or blank text is a data error."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BenchError(f"sentence {i} is not text (got {text!r}); check the data for missing values.")
        if not text.strip():
            raise BenchError(f"sentence {i} is empty; empty sentences cannot be embedded.")


#: The encoding pass hands finished vectors to the cache at least this often (seconds, or batches), so an
#: interrupted run resumes from where it was instead of starting over.
FLUSH_SECONDS = 60.0
FLUSH_BATCHES = 64

Sink = Callable[[np.ndarray, dict[str, np.ndarray], np.ndarray], None]


def forward(texts: Sequence[str], backend: Backend, *, batch_size: int, progress: bool,
            sink: Sink | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Run the backend over ``texts`` in length-sorted batches; vectors per strategy and token lengths, in input order.

    ``sink(rows, vectors, lengths)`` receives finished rows every minute or so (and at the end)."""
    if batch_size < 1:
        raise BenchError(f"encode.batch_size must be >= 1, got {batch_size}.")
    lengths = backend.token_lengths(texts)
    order = np.argsort(-lengths, kind="stable")
    out: dict[str, np.ndarray] = {}
    pending: list[np.ndarray] = []
    last_flush = time.monotonic()
    batches = [order[begin : begin + batch_size] for begin in range(0, len(order), batch_size)]
    if hasattr(backend, "embed_batches"):  # several batches at once (processes, or an exported model's streams)
        results = backend.embed_batches([[texts[i] for i in rows] for rows in batches])
    else:
        results = (backend.embed_batch([texts[i] for i in rows]) for rows in batches)
    for rows, embedded in tqdm(zip(batches, results), total=len(batches), desc="encoding", unit="batch",
                               disable=not progress):
        for name, vectors in embedded.items():
            if name not in out:  # allocated once, filled in place: no concatenation or reordering copies
                out[name] = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[name][rows] = vectors
        pending.append(rows)
        if sink is not None and (len(pending) >= FLUSH_BATCHES or time.monotonic() - last_flush >= FLUSH_SECONDS):
            sink(np.concatenate(pending), out, lengths)
            pending, last_flush = [], time.monotonic()
    if sink is not None and pending:
        sink(np.concatenate(pending), out, lengths)
    return out, lengths


def _live(backend: Backend | Callable[[], Backend]) -> Backend:
    return backend if hasattr(backend, "embed_batch") else backend()


def encode_distinct(
    texts: Sequence[str],
    backend: Backend | Callable[[], Backend],
    *,
    strategies: Sequence[str] | None = None,
    namespaces: Mapping[str, CacheNamespace | None] | None = None,
    max_length: int | None = None,
    prefix: str = "",
    batch_size: int = 32,
    progress: bool = True,
) -> Encoded:
    """Vectors for each strategy over the distinct ``texts``, taken from the cache where possible.

    ``backend`` may be a factory: it is called only when some text is missing from the cache, so a
    warm run never loads the model. Every strategy the backend computes (the requested ones and any
    companions) is stored in its cache namespace, so one forward pass serves a whole sweep.
    ``strategies=None`` means "whatever the backend computes" with no cache.
    """
    check_texts(texts)
    start = time.perf_counter()
    namespaces = dict(namespaces or {})
    distinct = list(dict.fromkeys(texts))
    prefixed = [prefix + t for t in distinct]
    hits: dict[str, dict[int, tuple[np.ndarray, int]]] = {}
    missing: set[int] = set() if strategies is not None else set(range(len(distinct)))
    for name in strategies or ():
        space = namespaces.get(name)
        found, absent = space.lookup(prefixed) if space is not None else ({}, range(len(distinct)))
        hits[name] = found
        missing.update(absent)

    todo = sorted(missing)
    lengths = np.zeros(len(distinct), dtype=np.int64)
    fresh: dict[str, np.ndarray] = {}
    if todo:
        live = _live(backend)
        max_length = live.max_length
        todo_texts = [prefixed[i] for i in todo]

        def sink(rows: np.ndarray, vectors: dict[str, np.ndarray], lengths_: np.ndarray) -> None:
            _store({name: array[rows] for name, array in vectors.items()}, [todo_texts[r] for r in rows],
                   lengths_[rows], namespaces)

        fresh, todo_lengths = forward(todo_texts, live, batch_size=batch_size, progress=progress,
                                      sink=sink if namespaces else None)
        lengths[todo] = todo_lengths
        fresh = {name: fresh[name] for name in strategies or fresh}  # companions are cached; free them

    slot = {i: j for j, i in enumerate(todo)}
    vectors: dict[str, np.ndarray] = {}
    for name in strategies if strategies is not None else fresh:
        rows = []
        for i in range(len(distinct)):
            if i in slot:
                rows.append(fresh[name][slot[i]])
            else:
                vector, lengths[i] = hits[name][i]
                rows.append(vector)
        vectors[name] = np.stack(rows)
    if max_length is None:
        max_length = _live(backend).max_length
    n_truncated = int((lengths > max_length).sum())
    if n_truncated:
        log.warning("%d of %d distinct sentences exceed %d tokens and were truncated.", n_truncated, len(distinct), max_length)
    return Encoded(
        index={t: i for i, t in enumerate(distinct)},
        vectors=vectors,
        n_input=len(texts),
        n_distinct=len(distinct),
        n_truncated=n_truncated,
        n_encoded=len(todo),
        seconds=time.perf_counter() - start,
    )


def _store(fresh: dict[str, np.ndarray], texts: list[str], lengths: np.ndarray,
           namespaces: Mapping[str, CacheNamespace | None]) -> None:
    """Add newly computed vectors to each strategy's namespace (only the texts it lacks)."""
    for name, vectors in fresh.items():
        space = namespaces.get(name)
        if space is None:
            continue
        _, absent = space.lookup(texts)
        if absent:
            space.store([texts[j] for j in absent], vectors[absent], lengths[absent])


def encode_by_prompt(texts_by_prompt: Mapping[str, list[str]], resolved, strategies: list[PoolingSpec], *,
                     cache, device: str, dtype: torch.dtype, batch_size: int, progress: bool,
                     devices: list[str] | None = None, runtime=None, export_root=None,
                     threads: int | None = None, streams: int | None = None, shard: bool = False,
                     max_memory: int | None = None) -> dict[str, Encoded]:
    """Every text under its prompt, one deduplicated pass per prompt; the model is loaded once for all of
    them, and not at all when the cache holds every vector. The first strategy is the one asked for; the
    others are companions computed from the same forward pass and cached. ``devices``: one process per
    device (bench.encoding.parallel), the same vectors; with ``shard``, one copy spread over them (or over ``device``)
    instead, the same vectors again. ``max_memory``: the most bytes to take of each device. ``runtime`` (a :class:`bench.encoding.backends.BackendSpec`) runs the
    encoder under ONNX Runtime or OpenVINO instead of PyTorch."""
    import functools

    dtype_name = str(dtype).removeprefix("torch.")
    if runtime is not None and runtime.exported:
        backend = functools.cache(lambda: build_exported_backend(resolved, strategies, runtime, export_root, threads,
                                                                          streams))
    elif shard:
        backend = functools.cache(lambda: build_backend(resolved, strategies, device, dtype, shard=devices or [device],
                                                        max_memory=max_memory))
    elif devices:
        backend = functools.cache(lambda: ParallelBackend(resolved, strategies, devices, dtype, threads, max_memory))
    else:
        backend = functools.cache(lambda: build_backend(resolved, strategies, device, dtype, max_memory=max_memory))
    extra = runtime.identity() if runtime is not None else {}  # empty for plain PyTorch: the keys stay as they were
    out = {}
    for prompt, texts in texts_by_prompt.items():
        namespaces = {s.slug: cache.namespace({**resolved.cache_key(s.as_dict(), dtype_name, prompt), **extra})
                      for s in strategies}
        out[prompt] = encoded = encode_distinct(
            texts, backend, strategies=[strategies[0].slug], namespaces=namespaces,
            max_length=resolved.spec.max_seq_length or NO_LIMIT, prefix=prompt, batch_size=batch_size, progress=progress)
        log.info("%s%d distinct of %d sentences: %d encoded in %.1fs, %d from the cache (%d truncated)",
                 f"prompt {prompt!r}: " if prompt else "", encoded.n_distinct, encoded.n_input, encoded.n_encoded,
                 encoded.seconds, encoded.n_distinct - encoded.n_encoded, encoded.n_truncated)
    return out
