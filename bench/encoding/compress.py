"""Compressed embeddings as strategies, with scikit-learn's fit/transform contract.

Each method is one :class:`Compressor` subclass, named by ``_target_`` in ``conf/compression/<name>.yaml``
and resolved with Hydra's ``get_class``: a compressor of one's own is a subclass (with its own ``method``
name) and a YAML file, e.g. ``compression._target_=mypackage.MyCompressor``.

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

import inspect
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from omegaconf import DictConfig, OmegaConf

from bench.errors import BenchError, unknown_choice


class Compressor:
    """No compression; the base of every compressor: ``fit`` on the fit split's vectors, ``transform`` into
    the stored form, ``scoring_view`` back to the floats similarities are computed on."""

    method: ClassVar[str] = "none"
    needs_dims: ClassVar[bool] = False  # True: compression.dims is required; False: it must be null
    bytes_per_dim: ClassVar[float] = 4.0
    dtype: ClassVar[str] = "float32"

    def __init__(self, dims: int | None = None):
        self.dims = dims

    def fit(self, vectors: np.ndarray) -> Compressor:
        if self.needs_dims and self.dims > vectors.shape[1]:
            raise BenchError(f"compression.dims={self.dims} exceeds the embedding size {vectors.shape[1]}.")
        return self

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """The stored form (float32 here; int8 codes or packed bits for the quantisers)."""
        return np.asarray(vectors, dtype=np.float32)

    def scoring_view(self, stored: np.ndarray, dims: int) -> np.ndarray:
        """Floats for similarity functions."""
        return stored.astype(np.float32)

    def describe(self, input_dims: int) -> dict:
        dims = self.dims if self.needs_dims else input_dims
        return {"method": self.method, "dims": dims, "input_dims": input_dims,
                "bytes_per_vector": int(np.ceil(dims * self.bytes_per_dim)), "dtype": self.dtype}


class PCA(Compressor):
    """The top-``dims`` principal components (scikit-learn ``PCA``)."""

    method = "pca"
    needs_dims = True
    whiten: ClassVar[bool] = False

    def fit(self, vectors: np.ndarray) -> Compressor:
        vectors = np.asarray(vectors, dtype=np.float32)
        super().fit(vectors)
        if self.dims > vectors.shape[0]:
            raise BenchError(f"compression={self.method} with {self.dims} dims needs at least {self.dims} fit "
                             f"sentences; the fit split has {vectors.shape[0]}.")
        from sklearn.decomposition import PCA as SklearnPCA

        self._model = SklearnPCA(n_components=self.dims, whiten=self.whiten, svd_solver="full").fit(vectors)
        return self

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        if getattr(self, "_model", None) is None:
            raise RuntimeError("fit() before transform()")
        return self._model.transform(np.asarray(vectors, dtype=np.float32)).astype(np.float32)


class Whitening(PCA):
    """BERT-whitening: PCA with each component scaled by ``1/sqrt(eigenvalue)``."""

    method = "whitening"
    whiten = True


class Truncate(Compressor):
    """The first ``dims`` dimensions (Matryoshka-style); nothing is fitted."""

    method = "truncate"
    needs_dims = True

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors, dtype=np.float32)[:, : self.dims]


class Int8(Compressor):
    """Per-dimension [min, max] of the fit split onto 256 levels; scored on the bucket midpoints.

    The codes are sentence-transformers' ``quantize_embeddings(precision="int8", ranges=...)`` of recent
    releases (floor into 256 buckets, clipped, minus 128), computed here: older releases in bench's supported
    range truncate instead and wrap values outside the ranges, which would change the numbers by version."""

    method = "int8"
    bytes_per_dim = 1.0
    dtype = "int8"

    def fit(self, vectors: np.ndarray) -> Compressor:
        vectors = np.asarray(vectors, dtype=np.float32)
        if not len(vectors):
            raise BenchError("compression=int8 needs fit vectors to calibrate its ranges.")
        self._ranges = np.vstack([vectors.min(axis=0), vectors.max(axis=0)]).astype(np.float32)
        return self

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        if getattr(self, "_ranges", None) is None:
            raise RuntimeError("fit() before transform()")
        starts, ends = self._ranges
        steps = np.where(ends > starts, (ends - starts) / 255, 1).astype(np.float32)
        buckets = np.clip(np.floor((np.asarray(vectors, dtype=np.float32) - starts) / steps), 0, 255)
        return (buckets - 128).astype(np.int8)

    def scoring_view(self, stored: np.ndarray, dims: int) -> np.ndarray:
        starts, ends = self._ranges  # raw codes carry a per-dimension offset that would distort cosine
        steps = np.where(ends > starts, (ends - starts) / 255, 1).astype(np.float32)
        return (stored.astype(np.float32) + 128.5) * steps + starts


class Binary(Compressor):
    """One bit per dimension (``x > 0``), packed (sentence-transformers' ``ubinary``); scored as ±1 vectors."""

    method = "binary"
    bytes_per_dim = 1 / 8
    dtype = "bit"

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return np.packbits(np.asarray(vectors) > 0, axis=-1)

    def scoring_view(self, stored: np.ndarray, dims: int) -> np.ndarray:
        bits = np.unpackbits(stored.astype(np.uint8), axis=1)[:, :dims]
        return bits.astype(np.float32) * 2 - 1


#: bench's own compressors by method name (what results record, and what a spec without a target uses).
BUILTIN: dict[str, type[Compressor]] = {c.method: c for c in (Compressor, PCA, Whitening, Truncate, Int8, Binary)}
METHODS = tuple(BUILTIN)


def compressor_class(target: str) -> type[Compressor]:
    """The class a ``_target_`` names; it must be a :class:`Compressor`."""
    from hydra.utils import get_class

    try:
        cls = get_class(target)
    except Exception as exc:  # noqa: BLE001 -- Hydra raises several kinds for a bad path
        raise BenchError(f"compression._target_={target} cannot be imported ({exc.__class__.__name__}); bench's "
                         f"compressors: {', '.join(f'{c.__module__}.{c.__name__}' for c in BUILTIN.values())}.") from None
    if not (isinstance(cls, type) and issubclass(cls, Compressor)):
        raise BenchError(f"compression._target_={target} is not a bench.encoding.compress.Compressor subclass.")
    try:  # bench builds it as cls(dims=...): a constructor without that keyword would fail mid-run
        inspect.signature(cls).bind(dims=None)
    except TypeError:
        raise BenchError(f"compression._target_={target}: its __init__ must accept the keyword 'dims' (as "
                         f"bench.encoding.compress.Compressor's __init__(self, dims=None) does).") from None
    return cls


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class CompressionSpec:
    """The compression settings of a run: which compressor (its class), how many dimensions, fitted where."""

    method: str = "none"
    dims: int | None = None
    fit_split: str = "train"
    fit_task: str | None = None  # None: the evaluated task itself
    target: str | None = None  # the compressor class; None: bench's own for ``method``

    def __post_init__(self) -> None:
        if self.target is None and self.method not in BUILTIN:
            raise unknown_choice("compression", self.method, METHODS)
        cls = self.compressor_class
        if cls.method != self.method:
            raise BenchError(f"compression._target_={self.target} is method '{cls.method}', not '{self.method}'.")
        if cls.needs_dims and (not isinstance(self.dims, int) or self.dims < 1):
            raise BenchError(f"compression={self.method} needs compression.dims, a positive integer; got {self.dims!r}.")
        if not cls.needs_dims and self.dims is not None:
            raise BenchError(f"compression.dims does not apply to compression={self.method}; leave it null.")
        if self.fit_split == "test":
            raise BenchError("compression.fit_split=test would fit on the evaluated data; use train or validation.")

    @classmethod
    def from_config(cls, cfg: DictConfig | dict | None) -> CompressionSpec:
        if cfg is None:
            return cls()
        c = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        target = c.get("_target_")
        method = compressor_class(target).method if target else c.get("method", cls.method)
        if target == _path(BUILTIN.get(method, object)):
            target = None  # bench's own class: the method name says it
        keys = ("dims", "fit_split", "fit_task")
        return cls(method=method, target=target, **{k: c[k] for k in keys if k in c})  # left out: the defaults

    @property
    def compressor_class(self) -> type[Compressor]:
        return compressor_class(self.target) if self.target else BUILTIN[self.method]

    def build(self) -> Compressor:
        """A fresh, unfitted compressor of the configured class (resolved and checked by ``compressor_class``;
        called directly: Hydra 1.4's ``instantiate`` wants an execution whitelist, and 1.5 will require one)."""
        return self.compressor_class(dims=self.dims)

    @property
    def identity(self) -> dict:
        """What of these settings identifies a result (the class only when it is not bench's own)."""
        out = {"method": self.method, "dims": self.dims, "fit_split": self.fit_split, "fit_task": self.fit_task}
        return out | ({"target": self.target} if self.target else {})

    @property
    def active(self) -> bool:
        return self.method != "none"

    @property
    def slug(self) -> str:
        return self.method + (str(self.dims) if self.dims else "")
