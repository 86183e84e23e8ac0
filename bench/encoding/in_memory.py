"""Encoding a model that lives in memory (:mod:`bench.models.memory`): its own object is the backend, through
the same hidden-state pooling as a loaded model, its own sentence-transformers pipeline, or its ``encode``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from bench.encoding.pooling import PoolingSpec
from bench.encoding.torch_backend import HiddenStateBackend, count_tokens
from bench.errors import BenchError
from bench.models.memory import InMemoryModel, model_device, model_dtype


def in_memory_backend(model: InMemoryModel, strategies: list[PoolingSpec], device: str, dtype):
    """The backend over a model object in memory itself: nothing is loaded, moved or cast (the run's device
    and dtype were set from the model's own)."""
    actual, where = model_dtype(model.model), model_device(model.model)
    if where is not None and where.split(":")[0] != str(device).split(":")[0]:
        raise BenchError(f"the model is on {where} but the run asks for encode.device={device}; move the model "
                         f"(model.to('{device}')) or leave encode.device unset (it follows the model).")
    if actual is not None and actual != str(dtype).removeprefix("torch."):
        raise BenchError(f"the model's weights are {actual} but the run asks for {dtype}; cast the model or set "
                         f"encode.half accordingly.")
    if model.kind == "encode":
        return EncodeBackend(model.model, strategies[0])
    if strategies[0].uses_pipeline:
        if model.kind != "sentence-transformers":
            raise BenchError("pooling=sbert needs a SentenceTransformer; a transformers model takes a hidden-state "
                             "pooling (mean, cls, max, mean_max, first_last_avg).")
        return PromptlessSentenceTransformerBackend(model.model, strategies[0], model.spec.max_seq_length)
    encoder = model.model if model.kind == "transformers" else model.model[0].auto_model
    return HiddenStateBackend(model.tokenizer, encoder, model_device(encoder), model.spec.max_seq_length,
                              strategies, frozenset(), model.spec.name)


class PromptlessSentenceTransformerBackend:
    """A SentenceTransformer object's own pipeline; bench's prompts (``model.prompts``) are already in the
    texts, so the object's default prompt is never added (``prompt=""``), and its ``max_seq_length`` is set
    only for the duration of the batch (the caller puts the model in eval mode: :func:`bench.api.evaluate`)."""

    def __init__(self, model, strategy: PoolingSpec, max_length: int):
        self.model, self.strategy, self.max_length = model, strategy, max_length

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return count_tokens(self.model.tokenizer, texts)

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        before = self.model.max_seq_length
        self.model.max_seq_length = self.max_length
        try:
            vectors = self.model.encode(list(texts), batch_size=len(texts), convert_to_numpy=True,
                                        show_progress_bar=False, normalize_embeddings=self.strategy.normalize,
                                        prompt="")
        finally:
            self.model.max_seq_length = before
        return {self.strategy.slug: np.asarray(vectors, dtype=np.float32)}


class EncodeBackend:
    """Any object with ``encode(list[str]) -> array``: bench batches the texts and calls it. Its tokenizer is
    unknown, so batches are sorted by characters and no truncation is counted."""

    max_length = sys.maxsize

    def __init__(self, model, strategy: PoolingSpec):
        self.model, self.strategy = model, strategy

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))

    def embed_batch(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        vectors = self.model.encode(list(texts))
        if hasattr(vectors, "detach"):  # a torch tensor
            vectors = vectors.detach().float().cpu().numpy()
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise BenchError(f"{self.model.__class__.__name__}.encode returned an array of shape {vectors.shape} for "
                             f"{len(texts)} texts; it must return one vector per text (shape [{len(texts)}, dim]).")
        if self.strategy.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return {self.strategy.slug: vectors}
