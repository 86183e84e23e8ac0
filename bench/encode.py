"""Turning sentences into vectors: deduplicated, length-sorted, batched, truncated, one pass.

:func:`encode_distinct` is model-agnostic: it deduplicates the texts (CDSC's 2000 test sentences
hold 859 distinct strings), adds the model's prefix, sorts by token length so batches carry little
padding, counts truncated inputs, and asks a backend for each batch. A backend returns one array
per strategy, so several poolings of the same model share one forward pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.models.spec import PoolingSpec
from bench.pooling import pool

log = logging.getLogger(__name__)


def pick_device(requested: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit device must exist."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    kind = requested.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise BenchError(f"Unknown device '{requested}'. Valid devices: auto, cpu, cuda, cuda:N, mps.")
    if kind == "cuda" and not torch.cuda.is_available():
        raise BenchError("device=cuda was requested but no CUDA GPU is available; use device=auto or cpu.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise BenchError("device=mps was requested but MPS is not available; use device=auto or cpu.")
    return requested


def pick_dtype(device: str, half: bool) -> torch.dtype:
    """fp32 unless half precision is asked for on a GPU (bf16 where supported, else fp16).

    fp32 is explicit because recent transformers may otherwise load a checkpoint in its stored dtype,
    and reference numbers are fp32 numbers.
    """
    if not half:
        return torch.float32
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    log.warning("encode.half=true is ignored on %s: half precision is only used on GPU.", device)
    return torch.float32


class Backend(Protocol):
    """What :func:`encode_distinct` needs from a model."""

    max_length: int

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]: ...


class HiddenStateBackend:
    """A bare transformer encoder pooled by one or more :class:`PoolingSpec` strategies."""

    def __init__(self, tokenizer, model, device: str, max_length: int, strategies: Sequence[PoolingSpec]):
        if any(s.uses_pipeline for s in strategies):
            raise BenchError("the sbert strategy needs the sentence-transformers backend, not hidden states.")
        self.tokenizer, self.model, self.device = tokenizer, model, device
        self.max_length = max_length
        self.strategies = list(strategies)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    @torch.inference_mode()
    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        inputs = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        outputs = self.model(**inputs, output_hidden_states=True)
        mask = inputs["attention_mask"]
        out = {}
        for strategy in self.strategies:
            vectors = pool(outputs.hidden_states, mask, strategy.fn, strategy.layers).float()
            if strategy.normalize:
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1)
            out[strategy.slug] = vectors.cpu().numpy()
        return out


class SentenceTransformerBackend:
    """The model's own sentence-transformers pipeline (strategy ``sbert``)."""

    def __init__(self, model, strategy: PoolingSpec):
        self.model, self.strategy = model, strategy
        self.max_length = int(model.max_seq_length)

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        vectors = self.model.encode(
            list(texts), batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False,
            normalize_embeddings=self.strategy.normalize,
        )
        return {self.strategy.slug: vectors.astype(np.float32, copy=False)}


@dataclass
class Encoded:
    """Vectors for distinct texts, addressable by the original text."""

    index: dict[str, int]
    vectors: dict[str, np.ndarray]
    n_input: int
    n_distinct: int
    n_truncated: int
    seconds: float

    def lookup(self, strategy: str, texts: Sequence[str]) -> np.ndarray:
        rows = np.fromiter((self.index[t] for t in texts), dtype=np.int64, count=len(texts))
        return self.vectors[strategy][rows]

    def stats(self) -> dict:
        return {
            "sentences_total": self.n_input,
            "sentences_distinct": self.n_distinct,
            "sentences_truncated": self.n_truncated,
            "encode_seconds": round(self.seconds, 3),
        }


def check_texts(texts: Sequence[object]) -> None:
    """Every input must be a non-empty string: NaN (a float) or blank text is a data error."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BenchError(f"sentence {i} is not text (got {text!r}); check the data for missing values.")
        if not text.strip():
            raise BenchError(f"sentence {i} is empty; empty sentences cannot be embedded.")


def encode_distinct(
    texts: Sequence[str], backend: Backend, *, prefix: str = "", batch_size: int = 32, progress: bool = True
) -> Encoded:
    check_texts(texts)
    if batch_size < 1:
        raise BenchError(f"encode.batch_size must be >= 1, got {batch_size}.")
    start = time.perf_counter()
    distinct = list(dict.fromkeys(texts))
    prefixed = [prefix + t for t in distinct]
    lengths = backend.token_lengths(prefixed)
    n_truncated = int((lengths > backend.max_length).sum())
    if n_truncated:
        log.warning("%d of %d distinct sentences exceed %d tokens and were truncated.",
                    n_truncated, len(distinct), backend.max_length)
    order = np.argsort(-lengths, kind="stable")
    chunks: dict[str, list[np.ndarray]] = {}
    batches = range(0, len(order), batch_size)
    for begin in tqdm(batches, desc="encoding", unit="batch", disable=not progress):
        rows = order[begin : begin + batch_size]
        for name, vectors in backend.embed_batch([prefixed[i] for i in rows]).items():
            chunks.setdefault(name, []).append(vectors)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    vectors = {name: np.concatenate(parts)[inverse] for name, parts in chunks.items()}
    return Encoded(
        index={t: i for i, t in enumerate(distinct)},
        vectors=vectors,
        n_input=len(texts),
        n_distinct=len(distinct),
        n_truncated=n_truncated,
        seconds=time.perf_counter() - start,
    )
