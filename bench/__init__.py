"""bench: a benchmark harness for Polish and multilingual sentence embeddings.

From Python: :func:`bench.evaluate` (a model name, folder or object in memory -> a table of main scores),
:class:`bench.BenchEvaluator` (validation scores during sentence-transformers training) and
:func:`bench.load_results` (bench and MTEB result files -> a table). :func:`bench.run.run` takes a composed
Hydra config and returns the written result records; ``python -m bench`` is a thin CLI around it. The
names are imported on first use, so ``import bench`` stays cheap.
"""

__version__ = "0.1.0"

#: Public names and the module each lives in (imported when first used).
_LAZY = {"evaluate": "bench.api", "BenchEvaluator": "bench.train.evaluator", "load_results": "bench.reports.leaderboard.published",
         "BenchError": "bench.errors"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
