"""Models that live in memory: a ``SentenceTransformer``, a ``transformers`` model with its tokenizer, or any
object with ``encode(list[str]) -> array`` (the notebook or training-loop case of :func:`bench.evaluate`).

:class:`InMemoryModel` stands where a :class:`~bench.models.loading.ResolvedModel` stands in a run (same
``spec``, ``provenance()``, ``cache_key()``, ``weights_sha256``, ``files_sha256``), so identity, the
embedding cache and the results store work unchanged. Its identity is a digest of what it computes with:
every tensor of its state dict (names, dtypes, shapes, bytes), its tokenizer's files, and its pipeline
configuration (the transformers config, the sentence-transformers modules and their settings). A model
changed in place (one more training step) therefore has a new identity, a new revision
(``memory-<digest>``), new cache namespaces and new result paths: nothing computed for the old weights is
ever served for the new ones. An object that only has ``encode`` cannot be digested: it is evaluated
with the cache off, under a revision of its own for each evaluation (``transient-<random>``), and its
results say that they have no stable identity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.digests import digest_files, digest_json
from bench.errors import BenchError
from bench.models.spec import ModelSpec

log = logging.getLogger(__name__)

#: The kinds of in-memory model, as results record them (``bench.model.source`` is ``memory``).
KINDS = ("sentence-transformers", "transformers", "encode")


def classify(model) -> str | None:
    """Which in-memory kind ``model`` is (None: not a model object; a name, hub id or folder instead)."""
    if isinstance(model, (str, Path)):
        return None
    if isinstance(model, tuple):
        if len(model) == 2 and _is_transformer(model[0]) and callable(model[1]):
            return "transformers"
        raise BenchError("a model given as a tuple must be (transformers model, tokenizer), e.g. "
                         "(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)).")
    if _is_sentence_transformer(model):
        return "sentence-transformers"
    if _is_transformer(model):
        raise BenchError(f"a bare {model.__class__.__name__} needs its tokenizer: pass (model, tokenizer).")
    if callable(getattr(model, "encode", None)):
        return "encode"
    raise BenchError(f"cannot evaluate a {model.__class__.__name__}: give a model config name, a hub id or a model "
                     f"folder, a SentenceTransformer, a (transformers model, tokenizer) pair, or an object with "
                     f"encode(list[str]) -> array.")


def _is_sentence_transformer(model) -> bool:
    module = sys.modules.get("sentence_transformers")
    return module is not None and isinstance(model, module.SentenceTransformer)


def _is_transformer(model) -> bool:
    module = sys.modules.get("transformers")
    return module is not None and isinstance(model, module.PreTrainedModel)


def state_digest(module) -> str:
    """SHA-256 over every tensor of a torch module's state dict: name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    import torch

    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        flat = tensor.to("cpu").contiguous().reshape(-1)
        if flat.numel():
            digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()


def tokenizer_digest(tokenizer) -> str:
    """SHA-256 over the files ``save_pretrained`` writes for a tokenizer (vocabulary, merges, settings)."""
    with tempfile.TemporaryDirectory(prefix="bench-tokenizer-") as folder:
        root = Path(folder)
        tokenizer.save_pretrained(folder)
        return digest_files(root, sorted(p for p in root.rglob("*") if p.is_file()))


def _plain_config(config) -> dict:
    """A transformers config as JSON-able settings, without the version that wrote it."""
    values = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    values.pop("transformers_version", None)
    return json.loads(json.dumps(values, default=str, sort_keys=True))


def pipeline_description(model, kind: str) -> dict:
    """What, besides the weights and the tokenizer, shapes the vectors: the encoder's config and, for a
    sentence-transformers pipeline, each module's class and settings."""
    if kind == "transformers":
        return {"config": _plain_config(model.config)}
    modules = []
    for module in model:
        config = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
        modules.append({"type": f"{module.__class__.__module__}.{module.__class__.__name__}",
                        "config": json.loads(json.dumps(config, default=str, sort_keys=True))})
        auto = getattr(module, "auto_model", None)
        if auto is not None:
            modules[-1]["transformer_config"] = _plain_config(auto.config)
    return {"modules": modules, "max_seq_length": int(model.max_seq_length)}


def _first_parameter(model):
    import torch

    modules = model if isinstance(model, torch.nn.Module) else None
    return next(modules.parameters(), None) if modules is not None else None


def model_device(model) -> str | None:
    """The device a torch model's weights are on (``cpu``, ``cuda:0``), None for other objects."""
    parameter = _first_parameter(model)
    if parameter is None:
        return None
    device = parameter.device
    return f"{device.type}:{device.index}" if device.index is not None else device.type


def model_dtype(model) -> str | None:
    parameter = _first_parameter(model)
    return str(parameter.dtype).removeprefix("torch.") if parameter is not None else None


@dataclass
class InMemoryModel:
    """A model object in the place of a resolved model folder (see the module docstring)."""

    spec: ModelSpec
    kind: str
    model: object
    tokenizer: object = None
    weights_sha256: str = ""
    files_sha256: str = ""
    stable: bool = True
    path: Path | None = None  # nothing on disk
    source: str = "memory"
    pipeline: dict = field(default_factory=dict)

    @classmethod
    def of(cls, model, spec: ModelSpec) -> InMemoryModel:
        """Digest ``model`` as it is now (call again after it changed)."""
        kind = classify(model)
        if kind is None:
            raise BenchError("InMemoryModel.of needs a model object, not a name or folder.")
        if kind == "encode":
            transient = f"transient-{uuid.uuid4().hex}"
            return cls(spec, kind, model, weights_sha256=transient, files_sha256=transient, stable=False,
                       pipeline={"class": f"{model.__class__.__module__}.{model.__class__.__name__}"})
        encoder, tokenizer = (model if kind == "transformers" else (model, model.tokenizer))
        pipeline = pipeline_description(encoder, kind)
        return cls(spec, kind, encoder, tokenizer, weights_sha256=state_digest(encoder),
                   files_sha256=digest_json({"tokenizer": tokenizer_digest(tokenizer), "pipeline": pipeline}),
                   pipeline=pipeline)

    @property
    def resolved_revision(self) -> str:
        """The revision results are filed under: ``memory-`` and 12 hex digits of the weights' digest, or the
        transient id of an object without a stable identity."""
        return self.weights_sha256[:19] if not self.stable else f"memory-{self.weights_sha256[:12]}"

    def provenance(self) -> dict:
        out = {**self.spec.as_dict(), "source": self.source, "resolved_revision": self.resolved_revision,
               "in_memory": self.kind, "weights_sha256": self.weights_sha256 if self.stable else None,
               "files_sha256": self.files_sha256 if self.stable else None, "stable_identity": self.stable,
               "pipeline": self.pipeline}
        if not self.stable:
            out["identity_note"] = ("an object with encode() only: its weights cannot be digested, so this result "
                                    "has no stable identity; it was computed without the embedding cache and is "
                                    "never reused")
        return out

    def cache_key(self, strategy: dict, dtype: str, prompt: str) -> dict:
        """The cache namespace key, as for a model folder (the digests stand for the files). An encode-only
        object's key holds its transient id, so it could never be found again (and :func:`bench.evaluate` runs
        it with the cache off)."""
        return {"model": f"memory:{self.spec.name}", "revision": self.resolved_revision,
                "weights_sha256": self.weights_sha256, "files_sha256": self.files_sha256,
                "max_length": self.spec.max_seq_length, "prompt": prompt, "strategy": strategy, "dtype": dtype}

    def vector_size(self) -> int | None:
        return None
