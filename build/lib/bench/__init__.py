"""bench: a benchmark harness for Polish and multilingual sentence embeddings.

The public entry point is :func:`bench.run.run`, which takes a composed Hydra config and
returns the written result records; ``python -m bench`` is a thin CLI around it.
"""

__version__ = "0.1.0"
