"""Data-parallel encoding: one model copy per device (``encode.devices=[cuda:0,cuda:1]``, or ``[cpu,cpu]`` for
CPU processes), the distinct sentences' batches dealt out to them.

The engine is ``torch.multiprocessing`` (spawned processes, as sentence-transformers' multi-process pool uses):
each process loads the same backend (:func:`bench.encoding.build.build_backend`) on its device once, then embeds whole
batches. The main process sorts by length and cuts the batches exactly as one process would, so every sentence
is embedded in the same batch, beside the same sentences, as without parallelism: the vectors are the same
(up to the device's arithmetic), and the cache, the truncation count and the result identity do not change.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from bench.encoding.device import pick_device
from bench.encoding.torch_backend import count_tokens
from bench.errors import BenchError

log = logging.getLogger(__name__)

_WORKER: dict = {}


def pick_devices(devices: Sequence[str] | None) -> list[str] | None:
    """``encode.devices``: None or one device (one process, ``encode.device``), or the devices of the processes;
    ``all`` is every visible CUDA GPU. Each must exist."""
    if devices is None:
        return None
    if isinstance(devices, str) or not all(isinstance(d, str) for d in devices):
        raise BenchError(f"encode.devices must be a list of devices, e.g. [cuda:0,cuda:1] or [cpu,cpu]; got {devices!r}.")
    names = list(devices)
    if names == ["all"]:
        count = torch.cuda.device_count()
        if count == 0:
            raise BenchError("encode.devices=[all] names every visible CUDA GPU, and there is none; use "
                             "encode.devices=[cpu,cpu] for CPU processes, or leave encode.devices unset.")
        names = [f"cuda:{i}" for i in range(count)]
    if "auto" in names:
        raise BenchError("encode.devices lists explicit devices (cpu, cuda:N, mps), not auto.")
    picked = [pick_device(d) for d in names]
    return picked if len(picked) > 1 else None


def _init(devices, resolved, strategies, dtype, threads, max_memory=None) -> None:
    """In each process: take a device, load the backend there once."""
    from bench.encoding.build import build_backend

    device = devices.get()
    if threads:
        torch.set_num_threads(threads)
    _WORKER["backend"] = build_backend(resolved, strategies, device, dtype, max_memory=max_memory)


def _embed(texts: list[str]) -> dict[str, np.ndarray]:
    return _WORKER["backend"].embed_batch(texts)


class ParallelBackend:
    """A backend whose batches run in one process per device; the main process only tokenizes (for the
    length sort) and never loads the weights."""

    def __init__(self, resolved, strategies, devices: list[str], dtype, threads: int | None = None,
                 max_memory: int | None = None):
        from bench.models.capacity import check_fits
        from bench.models.loading import load_tokenizer

        check_fits(resolved, devices, dtype, cap=max_memory)  # each process holds a whole copy
        self.resolved, self.strategies, self.devices, self.dtype = resolved, list(strategies), devices, dtype
        self.max_memory = max_memory
        self.max_length = resolved.spec.max_seq_length
        self.tokenizer = load_tokenizer(resolved)
        cpus = sum(d == "cpu" for d in devices)
        self.threads = threads or (max(1, (os.cpu_count() or 1) // cpus) if cpus else None)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return count_tokens(self.tokenizer, texts)

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return next(self.embed_batches([list(texts)]))

    def embed_batches(self, batches: list[list[str]]) -> Iterator[dict[str, np.ndarray]]:
        """Each batch's vectors, in order, computed by the processes as they free up."""
        context = torch.multiprocessing.get_context("spawn")
        queue = context.Queue()
        for device in self.devices:
            queue.put(device)
        log.info("encoding on %d processes: %s", len(self.devices), ", ".join(self.devices))
        with context.Pool(len(self.devices), initializer=_init,
                          initargs=(queue, self.resolved, self.strategies, self.dtype, self.threads,
                                    self.max_memory)) as pool:
            yield from pool.imap(_embed, batches)
