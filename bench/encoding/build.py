"""The backend that runs a model in this process, on one device or spread over several: a model object in memory, the
model's sentence-transformers pipeline, or its bare encoder (:mod:`bench.encoding.torch_backend`)."""

from __future__ import annotations

from bench.encoding.pooling import PoolingSpec
from bench.encoding.torch_backend import HiddenStateBackend, SentenceTransformerBackend


def build_backend(resolved, strategies: list[PoolingSpec], device: str, dtype, *, shard: list[str] | None = None,
                  max_memory: int | None = None):
    """The model's backend for these strategies: its sentence-transformers pipeline, or the bare encoder.

    ``shard``: one copy spread over these devices (``encode.shard``, accelerate's ``device_map``); the inputs go to
    the first, where accelerate also returns the outputs. ``max_memory``: the most to take of each device."""
    from bench.models.capacity import check_fits
    from bench.models.loading import load_sentence_transformer, load_transformer
    from bench.models.memory import InMemoryModel

    if isinstance(resolved, InMemoryModel):  # a model object in memory: nothing to load
        from bench.encoding.in_memory import in_memory_backend

        return in_memory_backend(resolved, strategies, device, dtype)
    # before loading: a model too big for the device(s) fails in a second
    spread = check_fits(resolved, shard or [device], dtype, shard=shard is not None, cap=max_memory)
    device = shard[0] if shard else device
    if strategies[0].uses_pipeline:
        return SentenceTransformerBackend(load_sentence_transformer(resolved, device, dtype, max_memory=spread),
                                          strategies[0])
    tokenizer, model, untrained = load_transformer(resolved, device, dtype, max_memory=spread)
    return HiddenStateBackend(tokenizer, model, device, resolved.spec.max_seq_length, strategies, untrained,
                              resolved.spec.name)
