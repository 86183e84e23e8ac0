"""Which files hold a model's weights, in which format, and one digest over all of them.

A model folder is either a bare transformer (weights at the root) or a sentence-transformers
pipeline (``modules.json``): the transformer at the root or in its own folder, and modules with
weights of their own, such as ``2_Dense/``. Each weighted module holds safetensors (preferred) or,
in older repositories, PyTorch's pickled ``pytorch_model.bin``. Pickled weights are only ever read
by PyTorch's restricted loader (:func:`restricted_unpickling`): tensors and plain containers, no
code. The digest covers every weight file of the pipeline, so a changed Dense layer changes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.digests import digest_files
from bench.errors import BenchError

SAFETENSORS = "safetensors"
PYTORCH = "pytorch"
#: Module types of sentence-transformers pipelines that have no weights.
WEIGHTLESS_MODULES = ("Pooling", "Normalize", "Dropout", "LayerNorm_without_weights")
#: Files fetched from the hub before any weights: configs, tokenizers, pipeline description.
META_PATTERNS = ["*.json", "*.txt", "*.model", "*.tiktoken", "*.py"]
#: Never fetched: exports for other runtimes, and a 15 MB tokenizer file no loader reads.
IGNORE_PATTERNS = ["onnx/*", "openvino/*", "*.onnx", "*.h5", "*.msgpack", "*.ot", "unigram.json"]
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model",
                   "tokenizer.model", "sentencepiece.model", "spm.model", "vocab.model", "bpe.codes")


@dataclass(frozen=True)
class Module:
    """One part of the pipeline: its folder relative to the model folder ("" for the root) and type."""

    path: str
    type: str

    @property
    def weighted(self) -> bool:
        return self.type.rsplit(".", 1)[-1] not in WEIGHTLESS_MODULES


def pipeline_modules(directory: Path) -> list[Module]:
    """The modules of a sentence-transformers pipeline, or the root alone for a bare transformer."""
    listing = directory / "modules.json"
    if not listing.is_file():
        return [Module("", "transformers.AutoModel")]
    try:
        entries = json.loads(listing.read_text(encoding="utf-8"))
        return [Module(str(e.get("path", "")).strip("/"), str(e["type"])) for e in entries]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BenchError(f"{listing} is not a valid sentence-transformers module list ({exc}).") from None


def transformer_dir(directory: Path) -> Path:
    """The folder of the transformer itself (the root, or ``0_Transformer/`` in old pipelines), or of a static
    embedding's table and tokenizer (``0_StaticEmbedding/``)."""
    for module in pipeline_modules(directory):
        if module.type.rsplit(".", 1)[-1] in ("Transformer", "AutoModel", "StaticEmbedding"):
            return directory / module.path
    return directory


def is_static(directory: Path) -> bool:
    """A static-embedding pipeline (sentence-transformers' StaticEmbedding): token vectors averaged, no transformer."""
    modules = pipeline_modules(directory)
    return bool(modules) and modules[0].type.rsplit(".", 1)[-1] == "StaticEmbedding"


def _json_file(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _pooling_size(config: dict) -> int | None:
    """A Pooling module's output size: its input width times the modes it concatenates, in either config format
    (sentence-transformers >= 6: ``embedding_dimension`` and ``pooling_mode``, a name or a list; before:
    ``word_embedding_dimension`` and one ``pooling_mode_*`` flag per mode)."""
    width = config.get("embedding_dimension", config.get("word_embedding_dimension"))
    if "pooling_mode" in config:
        mode = config["pooling_mode"]
        count = 1 if isinstance(mode, str) else len(mode) if isinstance(mode, list) else 0
    else:
        flags = [value for key, value in config.items() if key.startswith("pooling_mode_")]
        count = sum(flags) if all(isinstance(flag, bool) for flag in flags) else 0
    return width * count if isinstance(width, int) and not isinstance(width, bool) and count else None


def vector_size(directory: Path, pipeline: bool, parts: int = 1) -> int | None:
    """The size of a strategy's vectors as the model's config files state it, before anything is loaded:
    the pipeline's (``pipeline``: its last Dense module's ``out_features``, else its Pooling module's input
    width times the pooling modes it concatenates), or the encoder's ``hidden_size``
    times ``parts`` (2 for ``mean_max``). None where the files do not say it for certain (a module type
    bench does not know, a missing key): the check then happens when the vectors exist."""
    if not pipeline:
        hidden = _json_file(transformer_dir(directory) / "config.json").get("hidden_size")
        return hidden * parts if isinstance(hidden, int) and not isinstance(hidden, bool) else None
    size = None
    for module in pipeline_modules(directory):
        kind = module.type.rsplit(".", 1)[-1]
        config = _json_file(directory / module.path / "config.json")
        if kind in ("Transformer", "AutoModel", "Normalize"):
            continue
        if kind == "Pooling":
            size = _pooling_size(config)
            if size is None:
                return None
        elif kind == "Dense" and isinstance(config.get("out_features"), int):
            size = config["out_features"]
        else:
            return None
    return size


def module_weights(folder: Path) -> tuple[str | None, list[Path]]:
    """The weight format of one module folder and its files: safetensors if present, else pickled."""
    safe = sorted(folder.glob("*.safetensors"))
    if safe:
        return SAFETENSORS, safe
    pickled = sorted(p for p in folder.glob("pytorch_model*.bin"))
    if pickled:
        return PYTORCH, pickled
    return None, []


@dataclass(frozen=True)
class Weights:
    """Every weight file of a model folder: format(s), relative paths, and a SHA-256 over all of them."""

    formats: dict[str, str]  # module path ("" = root) -> safetensors | pytorch
    files: tuple[str, ...]
    sha256: str

    @property
    def format(self) -> str:
        kinds = sorted(set(self.formats.values()))
        return kinds[0] if len(kinds) == 1 else "+".join(kinds)

    @property
    def pickled(self) -> bool:
        return PYTORCH in self.formats.values()

    def describe(self) -> dict:
        return {"format": self.format, "modules": dict(self.formats), "files": list(self.files), "sha256": self.sha256}


def collect_weights(directory: Path) -> Weights:
    """The weights of every weighted module; a module without weights is a clear error."""
    formats: dict[str, str] = {}
    files: list[Path] = []
    for module in pipeline_modules(directory):
        if not module.weighted:
            continue
        folder = directory / module.path
        kind, found = module_weights(folder)
        if kind is None and not module.type.startswith(("sentence_transformers.", "transformers.")):
            continue  # a custom module (refused later without trust_remote_code): its weights, if any, are its own
        if kind is None:
            problem = module_type_problem(module.type) if (directory / "modules.json").is_file() else None
            if problem:
                raise BenchError(f"{directory / 'modules.json'} is not a valid sentence-transformers module list: "
                                 f"module '{module.path or '.'}' has type '{module.type}', {problem}. Fix its \"type\" "
                                 f"(e.g. sentence_transformers.models.Pooling) or use a hidden-state pooling.")
            others = sorted(p.name for p in folder.glob("*") if p.suffix in (".pt", ".pth", ".ckpt", ".pkl", ".h5",
                                                                             ".msgpack", ".onnx"))
            extra = f" (found only {', '.join(others)}, which bench does not load)" if others else ""
            label = f"module '{module.path}' ({module.type})" if module.path else "the model"
            raise BenchError(f"no weights for {label} in {folder}: expected model.safetensors or "
                             f"pytorch_model.bin{extra}.")
        formats[module.path] = kind
        files += found
    return Weights(formats, tuple(str(p.relative_to(directory)) for p in files), digest_files(directory, files))


def module_type_problem(type_name: str) -> str | None:
    """Why a ``modules.json`` type of sentence-transformers or transformers names no module class (None when it
    does), resolved as sentence-transformers resolves it; asked only when the module has no weights, so a typo
    or a hostile type is reported as what it is, not as missing weights."""
    import torch
    from sentence_transformers.util import import_from_string

    try:
        found = import_from_string(type_name)
    except (ImportError, ValueError) as exc:
        return f"which does not exist ({(str(exc).strip() or exc.__class__.__name__).splitlines()[0]})"
    if not (isinstance(found, type) and issubclass(found, torch.nn.Module)):
        return f"which is a {type(found).__name__}, not a module class"
    return None


def missing_pickled_patterns(directory: Path) -> list[str]:
    """Hub patterns of the pickled weights needed where a weighted module has no safetensors."""
    patterns = []
    for module in pipeline_modules(directory):
        if module.weighted and module_weights(directory / module.path)[0] is None:
            prefix = f"{module.path}/" if module.path else ""
            patterns += [f"{prefix}pytorch_model.bin", f"{prefix}pytorch_model.bin.index.json",
                         f"{prefix}pytorch_model-*.bin"]
    return patterns


def check_tokenizer_files(directory: Path) -> None:
    """A tokenizer needs its vocabulary: without one, transformers builds an empty tokenizer that maps
    every word to the unknown token, and every score is garbage."""
    folder = transformer_dir(directory)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise BenchError(f"no tokenizer in {folder}: expected one of {', '.join(TOKENIZER_FILES[:5])}, ... "
                         f"(a model folder needs the tokenizer files saved beside the weights).")


@contextmanager
def restricted_unpickling() -> Iterator[None]:
    """While loading weights, every ``torch.load`` uses PyTorch's restricted unpickler
    (``weights_only``: tensors and plain containers only), even where a library asks otherwise."""
    saved = {key: os.environ.get(key) for key in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
