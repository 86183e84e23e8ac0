"""Compressed embeddings as strategies, with scikit-learn's fit/transform contract.

A compressor is fitted on the vectors of a fit split (the task's train split by default, or another
task's split) and applied to the evaluated split; it never sees test vectors while fitting.

* ``pca``: project on the top-k principal components (scikit-learn ``PCA``).
* ``whitening``: BERT-whitening (Su et al., 2021): centre, rotate onto the covariance eigenvectors,
  scale each of the top-k by ``1/sqrt(eigenvalue)``; scikit-learn's ``PCA(whiten=True)`` is exactly
  this transform (its variance uses ``n-1``, a global scale that no similarity metric sees).
* ``truncate``: the first k dimensions (Matryoshka-style); nothing to fit.
* ``int8``: per-dimension [min, max] ranges from the fit split mapped onto 256 levels, via
  sentence-transformers' ``quantize_embeddings`` (values outside the range are clipped). Vectors are
  stored as int8 codes; similarities use the codes dequantised to their bucket midpoints (raw codes
  carry a per-dimension offset that would distort cosine).
* ``binary``: one bit per dimension (``x > 0``), packed; similarities use the unpacked bits as ±1
  (cosine then equals ``1 - 2 * hamming / d``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from omegaconf import DictConfig, OmegaConf

from bench.errors import BenchError, unknown_choice

METHODS = ("none", "pca", "whitening", "truncate", "int8", "binary")
NEEDS_DIMS = ("pca", "whitening", "truncate")


@dataclass(frozen=True)
class CompressionSpec:
    method: str = "none"
    dims: int | None = None
    fit_split: str = "train"
    fit_task: str | None = None  # None: the evaluated task itself

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise unknown_choice("compression", self.method, METHODS)
        if self.method in NEEDS_DIMS and (not isinstance(self.dims, int) or self.dims < 1):
            raise BenchError(f"compression={self.method} needs compression.dims, a positive integer; got {self.dims!r}.")
        if self.method not in NEEDS_DIMS and self.dims is not None:
            raise BenchError(f"compression.dims does not apply to compression={self.method}; leave it null.")
        if self.fit_split == "test":
            raise BenchError("compression.fit_split=test would fit on the evaluated data; use train or validation.")

    @classmethod
    def from_config(cls, cfg: DictConfig | dict | None) -> CompressionSpec:
        if cfg is None:
            return cls()
        c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        return cls(**{f.name: c[f.name] for f in fields(cls) if f.name in c})  # keys left out: the defaults above

    @property
    def active(self) -> bool:
        return self.method != "none"

    @property
    def slug(self) -> str:
        return self.method + (str(self.dims) if self.dims else "")


class Compressor:
    """Fit on one matrix, transform others; ``scoring_view`` gives the float matrix similarities use."""

    def __init__(self, spec: CompressionSpec):
        self.spec = spec
        self._model = None
        self._ranges: np.ndarray | None = None  # int8: [min; max] per dimension, from the fit split

    def fit(self, vectors: np.ndarray) -> Compressor:
        vectors = np.asarray(vectors, dtype=np.float32)
        dims, method = self.spec.dims, self.spec.method
        if method in NEEDS_DIMS and dims > vectors.shape[1]:
            raise BenchError(f"compression.dims={dims} exceeds the embedding size {vectors.shape[1]}.")
        if method in ("pca", "whitening"):
            if dims > vectors.shape[0]:
                raise BenchError(f"compression={method} with {dims} dims needs at least {dims} fit sentences; "
                                 f"the fit split has {vectors.shape[0]}.")
            from sklearn.decomposition import PCA

            self._model = PCA(n_components=dims, whiten=method == "whitening", svd_solver="full").fit(vectors)
        elif method == "int8":
            if not len(vectors):
                raise BenchError("compression=int8 needs fit vectors to calibrate its ranges.")
            self._ranges = np.vstack([vectors.min(axis=0), vectors.max(axis=0)]).astype(np.float32)
        return self

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """The stored form: float32 projections, int8 codes, or packed bits (uint8)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        method = self.spec.method
        if method == "none":
            return vectors
        if method in ("pca", "whitening"):
            if self._model is None:
                raise RuntimeError("fit() before transform()")
            return self._model.transform(vectors).astype(np.float32)
        if method == "truncate":
            return vectors[:, : self.spec.dims]
        try:
            from sentence_transformers.util.quantization import quantize_embeddings
        except ImportError:  # sentence-transformers < 5
            from sentence_transformers.quantization import quantize_embeddings

        if method == "int8":
            if self._ranges is None:
                raise RuntimeError("fit() before transform()")
            return quantize_embeddings(vectors, precision="int8", ranges=self._ranges)
        return quantize_embeddings(vectors, precision="ubinary")

    def scoring_view(self, stored: np.ndarray, dims: int) -> np.ndarray:
        """Floats for similarity functions: binary bits become ±1, int8 codes their bucket midpoints."""
        if self.spec.method == "binary":
            bits = np.unpackbits(stored.astype(np.uint8), axis=1)[:, :dims]
            return bits.astype(np.float32) * 2 - 1
        if self.spec.method == "int8":
            starts, ends = self._ranges
            steps = np.where(ends > starts, (ends - starts) / 255, 1).astype(np.float32)
            return (stored.astype(np.float32) + 128.5) * steps + starts
        return stored.astype(np.float32)

    def describe(self, input_dims: int) -> dict:
        method = self.spec.method
        dims = self.spec.dims if method in NEEDS_DIMS else input_dims
        per_dim = {"int8": 1.0, "binary": 1 / 8}.get(method, 4.0)
        return {"method": method, "dims": dims, "input_dims": input_dims,
                "bytes_per_vector": int(np.ceil(dims * per_dim)), "dtype": {"int8": "int8", "binary": "bit"}.get(method, "float32")}
