"""Model specs (what to load, at which revision) and loading (tokenizer, encoder, ST pipeline)."""

from bench.models.spec import ModelSpec, PoolingSpec

__all__ = ["ModelSpec", "PoolingSpec"]
