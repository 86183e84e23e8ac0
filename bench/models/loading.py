"""Resolving and loading models safely.

* ``pkg://MODULE`` resolves to the weights an installed package ships (``MODULE.get_model_path()``).
* A local directory is used as is; its provenance is a SHA-256 over its safetensors files.
* Anything else is a hub id, downloaded with ``snapshot_download`` at the pinned revision; the
  resolved commit is recorded.

Weights load from safetensors only (no pickle), and ``trust_remote_code`` stays off unless the
model config asks for it.
"""

from __future__ import annotations

import hashlib
import json
import importlib
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from bench.errors import BenchError
from bench.models.spec import ModelSpec

log = logging.getLogger(__name__)

#: Written by ``bench.train`` beside a fine-tuned model; results of that model carry it.
LINEAGE_FILE = "bench_lineage.json"

#: Files needed to run an encoder and its sentence-transformers pipeline; never pickled weights.
HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "1_Pooling/*", "2_Normalize/*", "*/config.json"]


@dataclass
class ResolvedModel:
    """A model directory on disk and what identifies the weights in it."""

    spec: ModelSpec
    path: Path
    source: str  # "package", "local" or "hub"
    resolved_revision: str | None = None
    weights_sha256: str | None = None

    @cached_property
    def files_sha256(self) -> str:
        """Digest of every non-weight file (tokenizer, configs, pipeline modules)."""
        digest = hashlib.sha256()
        for path in sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix != ".safetensors"
                           and not any(part.startswith(".") for part in p.relative_to(self.path).parts)):
            digest.update(str(path.relative_to(self.path)).encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def provenance(self) -> dict:
        out = {
            **self.spec.as_dict(),
            "source": self.source,
            "resolved_revision": self.resolved_revision,
            "weights_sha256": self.weights_sha256,
            "files_sha256": self.files_sha256,
        }
        lineage = self.path / LINEAGE_FILE
        if lineage.is_file():  # a model fine-tuned by bench.train: base model, data, loss, epochs
            try:
                out["lineage"] = json.loads(lineage.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BenchError(f"{lineage} is unreadable ({exc}); it records what this model was fine-tuned from: "
                                 f"restore it from the training run, or delete it to evaluate without lineage.") from None
        return out

    def cache_key(self, strategy: dict, dtype: str) -> dict:
        """Everything that changes a vector, for the embedding cache."""
        return {
            "model": self.spec.hub_id or self.spec.name_or_path,
            "revision": self.resolved_revision,
            "weights_sha256": self.weights_sha256,
            "files_sha256": self.files_sha256,
            "max_length": self.spec.max_seq_length,
            "prefix": self.spec.prefix,
            "strategy": strategy,
            "dtype": dtype,
        }


def weights_digest(directory: Path) -> str:
    """SHA-256 over the directory's safetensors files (names and bytes), for local-model provenance."""
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise BenchError(
            f"no *.safetensors weights in {directory}. bench loads safetensors only (pickled .bin weights "
            f"can run code); convert the model with transformers' save_pretrained(safe_serialization=True)."
        )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def package_dir(module_name: str) -> Path:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise BenchError(f"model package '{module_name}' is not installed (pip install {module_name.replace('_', '-')}).") from None
    getter = getattr(module, "get_model_path", None)
    if getter is None:
        raise BenchError(f"package '{module_name}' has no get_model_path(); it does not ship a model.")
    return Path(getter())


def download(hub_id: str, revision: str) -> Path:
    """Fetch a hub snapshot at ``revision`` (tests patch this to use local copies)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=hub_id, revision=revision, allow_patterns=HUB_PATTERNS))
    except Exception as exc:
        raise BenchError(
            f"could not fetch model '{hub_id}' at revision '{revision}' from the Hugging Face Hub: {exc}. "
            f"Offline? Set model.name_or_path to a local copy."
        ) from None


def resolve(spec: ModelSpec) -> ResolvedModel:
    ref = spec.name_or_path
    if ref.startswith("pkg://"):
        path = package_dir(ref.removeprefix("pkg://"))
        return ResolvedModel(spec, path, "package", spec.revision, weights_digest(path))
    local = Path(ref).expanduser()
    if local.is_dir():
        return ResolvedModel(spec, local, "local", None, weights_digest(local))
    if ref.startswith(("/", ".", "~")) or local.suffix:
        raise BenchError(f"model directory not found: {local.resolve()}")
    path = download(ref, spec.revision)
    # snapshot folders are named by commit hash: .../snapshots/<sha>
    commit = path.name if len(path.name) == 40 else None
    return ResolvedModel(spec, path, "hub", commit, weights_digest(path))


def load_transformer(resolved: ResolvedModel, device: str, dtype=torch.float32):
    """Tokenizer and bare encoder (``AutoModel``) from the resolved directory."""
    from transformers import AutoModel, AutoTokenizer

    kwargs = {"trust_remote_code": resolved.spec.trust_remote_code}
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.path, **kwargs)
        model = AutoModel.from_pretrained(resolved.path, use_safetensors=True, dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise BenchError(f"cannot load model from {resolved.path}: {exc}") from None
    return tokenizer, model.to(device).eval()


def load_sentence_transformer(resolved: ResolvedModel, device: str, dtype=torch.float32):
    """The model's own sentence-transformers pipeline (``pooling=sbert``)."""
    if not (resolved.path / "modules.json").is_file():
        raise BenchError(
            f"model '{resolved.spec.name}' has no sentence-transformers pipeline (no modules.json in "
            f"{resolved.path}); use a hidden-state pooling such as mean, cls or max."
        )
    from sentence_transformers import SentenceTransformer

    model_kwargs = {"use_safetensors": True, "dtype": dtype}
    model = SentenceTransformer(
        str(resolved.path), device=device, trust_remote_code=resolved.spec.trust_remote_code, model_kwargs=model_kwargs
    )
    model.max_seq_length = resolved.spec.max_seq_length
    return model.eval()
