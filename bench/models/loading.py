"""Resolving and loading models safely.

* ``pkg://MODULE`` resolves to the weights an installed package ships (``MODULE.get_model_path()``).
* A local folder (it exists, or starts with ``/``, ``.``, ``~``) is used as is.
* Anything else is a hub id, fetched with ``snapshot_download`` at the pinned revision (configs,
  tokenizer and safetensors first; pickled ``pytorch_model.bin`` only for the modules that have no
  safetensors); the resolved commit is recorded.

Safetensors are preferred; pickled weights load only through PyTorch's restricted unpickler
(:func:`bench.models.weights.restricted_unpickling`). Provenance records the weight files used,
their format and one digest over all of them (root and pipeline modules such as ``2_Dense/``);
the embedding cache is keyed by it. ``trust_remote_code`` stays off unless the model config asks.
Before any encoding, :func:`check_usable` refuses a model that cannot give meaningful vectors.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch

from bench.digests import digest_files
from bench.errors import BenchError
from bench.hub import fetch_snapshot, snapshot_commit
from bench.models.spec import ModelSpec, is_local_reference
from bench.models.weights import (
    IGNORE_PATTERNS,
    META_PATTERNS,
    Weights,
    check_tokenizer_files,
    collect_weights,
    missing_pickled_patterns,
    pipeline_modules,
    restricted_unpickling,
    transformer_dir,
)

log = logging.getLogger(__name__)

#: Written by ``bench.train`` beside a fine-tuned model; results of that model carry it.
LINEAGE_FILE = "bench_lineage.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".onnx", ".ot")
#: Model types whose position ids start after the padding index (RoBERTa's scheme): two positions fewer.
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "camembert", "xmod", "data2vec-text", "roberta-prelayernorm")


@dataclass
class ResolvedModel:
    """A model directory on disk and what identifies the weights in it."""

    spec: ModelSpec
    path: Path
    source: str  # "package", "local" or "hub"
    resolved_revision: str | None = None

    @cached_property
    def weights(self) -> Weights:
        return collect_weights(self.path)

    @property
    def weights_sha256(self) -> str:
        return self.weights.sha256

    @cached_property
    def files_sha256(self) -> str:
        """Digest of every non-weight file (tokenizer, configs, pipeline modules)."""
        return digest_files(self.path, sorted(
            p for p in self.path.rglob("*") if p.is_file() and p.suffix not in WEIGHT_SUFFIXES
            and p.name != LINEAGE_FILE and not any(part.startswith(".") for part in p.relative_to(self.path).parts)))

    def provenance(self) -> dict:
        out = {
            **self.spec.as_dict(),
            "source": self.source,
            "resolved_revision": self.resolved_revision,
            "weights_sha256": self.weights_sha256,
            "weights": self.weights.describe(),
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

    def cache_key(self, strategy: dict, dtype: str, prompt: str) -> dict:
        """Everything that changes a vector, for the embedding cache."""
        return {
            "model": self.spec.hub_id or self.spec.name_or_path,
            "revision": self.resolved_revision,
            "weights_sha256": self.weights_sha256,
            "files_sha256": self.files_sha256,
            "max_length": self.spec.max_seq_length,
            "prompt": prompt,
            "strategy": strategy,
            "dtype": dtype,
        }


def package_dir(module_name: str) -> Path:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise BenchError(f"model package '{module_name}' is not installed (pip install {module_name.replace('_', '-')}).") from None
    getter = getattr(module, "get_model_path", None)
    if getter is None:
        raise BenchError(f"package '{module_name}' has no get_model_path(); it does not ship a model.")
    return Path(getter())


def download(spec: ModelSpec) -> Path:
    """The hub snapshot at the pinned revision: configs, tokenizer, pipeline and safetensors first;
    then pickled weights, only for the modules that have no safetensors."""
    hub_id, revision = spec.name_or_path, spec.revision
    meta = [p for p in META_PATTERNS if p != "*.py" or spec.trust_remote_code]
    path = fetch_snapshot(hub_id, revision, allow_patterns=[*meta, "*.safetensors"], ignore_patterns=IGNORE_PATTERNS)
    pickled = missing_pickled_patterns(path)
    if pickled:
        log.info("%s@%s has no safetensors for %s: fetching pickled PyTorch weights (loaded with the restricted "
                 "unpickler)", hub_id, revision[:12], ", ".join(sorted({p.rsplit("/", 1)[0] if "/" in p else "the model"
                                                                      for p in pickled[::3]})))
        path = fetch_snapshot(hub_id, revision, allow_patterns=pickled, ignore_patterns=IGNORE_PATTERNS)
    return path


def resolve(spec: ModelSpec) -> ResolvedModel:
    ref = spec.name_or_path
    if ref.startswith("pkg://"):
        resolved = ResolvedModel(spec, package_dir(ref.removeprefix("pkg://")), "package", spec.revision)
    elif is_local_reference(ref):
        local = Path(ref).expanduser()
        if not local.is_dir():
            raise BenchError(f"model folder not found: {local.resolve()}" + (
                " (it is a file; give the folder that holds config.json and the weights)" if local.exists() else ""))
        resolved = ResolvedModel(spec, local, "local", None)
    else:
        path = download(spec)
        resolved = ResolvedModel(spec, path, "hub", snapshot_commit(path))
    check_tokenizer_files(resolved.path)
    resolved.weights  # noqa: B018 -- fails now, with the folder named, if a module has no weights
    return resolved


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its per-file progress bars and load reports while bench loads or saves a
    model (bench reports what matters in one line: format, files, commit)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _model_kwargs(resolved: ResolvedModel, dtype, attn_implementation: str | None = None) -> dict:
    kwargs = {"use_safetensors": not resolved.weights.pickled or None, "dtype": dtype}
    if attn_implementation:  # encode.attn_implementation (eager, sdpa, flash_attention_2, ...)
        kwargs["attn_implementation"] = attn_implementation
    return kwargs


def load_transformer(resolved: ResolvedModel, device: str, dtype=torch.float32, attn_implementation: str | None = None):
    """Tokenizer, bare encoder (``AutoModel``) from the resolved directory, and the names of the encoder's
    weights that the checkpoint lacked (transformers initialised them randomly: e.g. a pooler of a model
    trained with masked-LM only)."""
    from transformers import AutoModel, AutoTokenizer

    folder = transformer_dir(resolved.path)
    trust = resolved.spec.trust_remote_code
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust)
        with restricted_unpickling(), quiet_transformers():
            model, info = AutoModel.from_pretrained(folder, trust_remote_code=trust, output_loading_info=True,
                                                    **_model_kwargs(resolved, dtype, attn_implementation))
    except Exception as exc:  # unreadable files, refused pickles, unknown architectures: one line, no traceback
        raise BenchError(f"cannot load model from {folder}: {exc.__class__.__name__}: {_first_line(exc)}") from None
    check_usable(resolved, tokenizer, model.config)
    return tokenizer, model.to(device).eval(), frozenset(info.get("missing_keys", ()))


def load_sentence_transformer(resolved: ResolvedModel, device: str, dtype=torch.float32,
                              attn_implementation: str | None = None):
    """The model's own sentence-transformers pipeline (``pooling=sbert``)."""
    if not (resolved.path / "modules.json").is_file():
        raise BenchError(
            f"model '{resolved.spec.name}' has no sentence-transformers pipeline (no modules.json in "
            f"{resolved.path}); use a hidden-state pooling such as mean, cls or max."
        )
    from sentence_transformers import SentenceTransformer

    check_custom_modules(resolved)
    try:
        with restricted_unpickling(), quiet_transformers():
            model = SentenceTransformer(str(resolved.path), device=device, trust_remote_code=resolved.spec.trust_remote_code,
                                        model_kwargs=_model_kwargs(resolved, dtype, attn_implementation),
                                        local_files_only=True)
    except Exception as exc:  # a module that cannot load: one line naming the model folder
        raise BenchError(f"cannot load the sentence-transformers pipeline of '{resolved.spec.name}' from "
                         f"{resolved.path}: {exc.__class__.__name__}: {_first_line(exc)}") from None
    # Prompts are bench's (model.prompts, by task type): a default prompt in the model's own config
    # would be added on top of them, silently.
    if getattr(model, "default_prompt_name", None):
        log.info("ignoring the model's default prompt '%s'; bench applies model.prompts", model.default_prompt_name)
        model.default_prompt_name = None
    transformer = model[0]
    check_usable(resolved, model.tokenizer, getattr(getattr(transformer, "auto_model", None), "config", None))
    model.max_seq_length = resolved.spec.max_seq_length
    return model.eval()


def check_custom_modules(resolved: ResolvedModel) -> None:
    """Modules outside sentence-transformers are code from the model's repository: refused without trust."""
    if resolved.spec.trust_remote_code:
        return
    custom = [m for m in pipeline_modules(resolved.path) if not m.type.startswith(("sentence_transformers.",
                                                                                     "transformers."))]
    if custom:
        names = ", ".join(f"{m.path or '.'} ({m.type})" for m in custom)
        raise BenchError(f"model '{resolved.spec.name}' uses custom pipeline module(s) {names}, which run code from "
                         f"the model's repository; set model.trust_remote_code=true only if you trust it.")


def position_limit(config) -> int | None:
    """How many tokens the model's position embeddings hold (None when the config does not say)."""
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return None
    if getattr(config, "model_type", None) in OFFSET_POSITIONS:
        return positions - (int(getattr(config, "pad_token_id", 1) or 1) + 1)
    return positions


def check_usable(resolved: ResolvedModel, tokenizer, config) -> None:
    """Before any encoding: the tokenizer must have a real vocabulary that fits the model's, and the
    maximum length must fit the model's positions; otherwise every vector would be garbage or the
    run would crash halfway."""
    name = resolved.spec.name
    size = len(tokenizer)
    specials = len(set(getattr(tokenizer, "all_special_tokens", ())))
    if size <= specials + 1:  # what transformers builds when the vocabulary files are missing
        raise BenchError(f"model '{name}': the tokenizer in {resolved.path} has only {size} tokens (its special "
                         f"tokens), so every word would be unknown; the tokenizer files are missing or broken.")
    vocab = getattr(config, "vocab_size", None)
    if isinstance(vocab, int) and size > vocab:
        raise BenchError(f"model '{name}': the tokenizer has {size} tokens but the model's embedding table only "
                         f"{vocab}: tokenizer and weights do not belong together.")
    limit = position_limit(config) if config is not None else None
    if limit is not None and resolved.spec.max_seq_length > limit:
        raise BenchError(f"model.max_seq_length={resolved.spec.max_seq_length} exceeds what '{name}' can take "
                         f"({limit} tokens, from its {config.max_position_embeddings} position embeddings); "
                         f"use model.max_seq_length={limit} or less.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def st_modules():
    """sentence-transformers' module classes (Transformer, Pooling, Normalize, Dense): their home since
    sentence-transformers 6 (importing them from the old ``sentence_transformers.models`` warns there),
    else the old one."""
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models as modules
    return modules
