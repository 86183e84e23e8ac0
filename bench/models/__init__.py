"""Models: what to load and at which revision (specs, prompts), the loading door (tokenizer, encoder, pipeline,
weights checked and unpickled safely), models given in memory, and whether a model fits a device."""

from bench.models.spec import ModelSpec

__all__ = ["ModelSpec"]
