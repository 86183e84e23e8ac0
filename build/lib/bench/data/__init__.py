"""Loading task data: local files in their original distribution formats, or the Hugging Face Hub.

Both sources produce :class:`bench.data.schema.PairData` per split, validated the same way.
"""

from bench.data.schema import PairData

__all__ = ["PairData"]
