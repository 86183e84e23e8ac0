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
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import torch

from bench.digests import digest_files
from bench.errors import BenchError, NotApplicable
from bench.hub import fetch_snapshot, snapshot_commit
from bench.models import door
from bench.models.door import first_line, quiet_transformers  # noqa: F401 -- quiet_transformers: training saves with it
from bench.models.spec import ModelSpec, is_local_reference
from bench.models.weights import (
    IGNORE_PATTERNS,
    META_PATTERNS,
    Weights,
    check_tokenizer_files,
    collect_weights,
    is_static,
    missing_pickled_patterns,
    pipeline_modules,
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
    #: Why each setting the model config left to the model (default pooling, length, prompts) has its value.
    reasons: dict[str, str] = field(default_factory=dict)

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
            **({"attention": self.spec.attn_implementation} if self.spec.attn_implementation else {}),
            **({"append_eos": True} if self.spec.append_eos else {}),
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
    resolved.spec, resolved.reasons = own_settings(spec, resolved.path)
    return resolved


#: MTEB's names of bench's task types: the keys a model's own prompts are looked up by (MTEB's get_prompt_name).
MTEB_TASK_TYPES = {"sts": "STS", "pair_classification": "PairClassification"}
#: The most tokens bench gives a model that states no length of its own.
DEFAULT_MAX_LENGTH = 512


def own_settings(spec: ModelSpec, path: Path) -> tuple[ModelSpec, dict[str, str]]:
    """The settings a model config leaves to the model (``default_pooling: auto``, ``max_seq_length: null``,
    ``prompts: null``: ``model=org/name`` or a folder), read from the model's own files as sentence-transformers
    and MTEB read them, and why each has its value."""
    changes, reasons = {}, {}
    if spec.default_pooling == "auto":
        pipeline = (path / "modules.json").is_file()
        changes["default_pooling"] = "sbert" if pipeline else "mean"
        reasons["pooling"] = ("the model ships a sentence-transformers pipeline (modules.json): evaluated through it, "
                              "as MTEB and the model's authors evaluate it" if pipeline else
                              "the model has no sentence-transformers pipeline (no modules.json): mean pooling over "
                              "the last layer")
    if spec.max_seq_length is None:
        changes["max_seq_length"], reasons["max_seq_length"] = own_length(path)
    if spec.prompts is None:
        changes["prompts"], reasons["prompts"] = own_prompts(path)
    return replace(spec, **changes), reasons


def _json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path} is unreadable ({exc}); the model's settings are read from it.") from None
    return value if isinstance(value, dict) else {}


def _positive_int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


#: Where a sentence-transformers Transformer module states its max_seq_length (sentence-transformers reads the
#: first that exists, the old names for models saved by early versions).
ST_CONFIG_FILES = ("sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
                   "sentence_camembert_config.json", "sentence_albert_config.json",
                   "sentence_xlm-roberta_config.json", "sentence_xlnet_config.json")


def own_length(path: Path) -> tuple[int | None, str]:
    """The model's maximum length, as sentence-transformers takes it: the ``max_seq_length`` of its module config
    (``sentence_bert_config.json``); for a pipeline saved by sentence-transformers >= 6, which keeps it as the
    tokenizer's ``model_max_length``, that (within the position embeddings); for a raw encoder, the least of what
    its position embeddings and its tokenizer take, at most 512."""
    from bench.models.weights import is_static

    if is_static(path):
        return None, "a static embedding (averaged token vectors) never truncates: no length limit"
    folder = transformer_dir(path)
    for name in ST_CONFIG_FILES:
        if (folder / name).is_file():
            declared = _positive_int(_json_object(folder / name).get("max_seq_length"))
            if declared:
                return declared, (f"the model's sentence-transformers config ({(folder / name).relative_to(path)}: "
                                  f"max_seq_length {declared})")
            break
    from types import SimpleNamespace

    config = _json_object(folder / "config.json")
    positions = position_limit(SimpleNamespace(**config)) if config else None
    tokenizer = _positive_int(_json_object(folder / "tokenizer_config.json").get("model_max_length"))
    tokenizer = tokenizer if tokenizer and tokenizer < 1_000_000 else None  # transformers' huge "no limit"
    if (path / "modules.json").is_file() and tokenizer:
        length = min(tokenizer, positions or tokenizer)
        return length, (f"the model's sentence-transformers pipeline: its tokenizer's model_max_length {tokenizer} "
                        f"(where sentence-transformers >= 6 keeps max_seq_length)"
                        + (f", within its position embeddings {positions}" if length < tokenizer else ""))
    limits = {f"bench's default {DEFAULT_MAX_LENGTH}": DEFAULT_MAX_LENGTH}
    if positions:
        limits[f"its position embeddings {positions}"] = positions
    if tokenizer:
        limits[f"its tokenizer's model_max_length {tokenizer}"] = tokenizer
    length = min(limits.values())
    return length, (f"the model states no max_seq_length of its own: {length} tokens, the least of "
                    f"{', '.join(limits)}")


def own_prompts(path: Path) -> tuple[tuple[tuple[str, str], ...], str]:
    """The prompts the model's sentence-transformers config gives bench's task types, by MTEB's rule for
    symmetric STS and pair-classification tasks: the prompt named after the task type (``STS``,
    ``PairClassification``), else the model's default prompt (``default_prompt_name``), else none. Keyed by MTEB's
    task type, as ``model.prompts`` is once normalised (bench.models.prompts looks them up by that name)."""
    config = _json_object(path / "config_sentence_transformers.json")
    prompts = config.get("prompts") if isinstance(config.get("prompts"), dict) else {}
    prompts = {name: text for name, text in prompts.items() if text}  # sentence-transformers writes empty ones
    default = config.get("default_prompt_name")
    chosen, how = {}, []
    for kind, mteb_type in MTEB_TASK_TYPES.items():
        if prompts.get(mteb_type):
            chosen[mteb_type] = str(prompts[mteb_type])
            how.append(f"{kind}: its '{mteb_type}' prompt")
        elif default and prompts.get(default):
            chosen[mteb_type] = str(prompts[default])
            how.append(f"{kind}: its default prompt '{default}'")
    if chosen:
        reason = f"the model's sentence-transformers config (config_sentence_transformers.json): {'; '.join(how)}"
    elif prompts:
        reason = (f"the model's prompts ({', '.join(sorted(prompts))}) name neither STS nor PairClassification and "
                  f"it has no default prompt")
    else:
        reason = "the model configures no prompts"
    return tuple(sorted(chosen.items())), reason


def _model_kwargs(resolved: ResolvedModel, dtype, attn_implementation: str | None = None) -> dict:
    """``attn_implementation``: a kernel a caller needs whatever the config says (an ONNX export traces eager);
    else the model config's (``model.attn_implementation``), else transformers' default."""
    kernel = attn_implementation or resolved.spec.attn_implementation
    attention = {"attn_implementation": kernel} if kernel else {}
    return {**door.Access(resolved).model_kwargs, "dtype": dtype, **attention}


def _tokenizer_kwargs(resolved: ResolvedModel) -> dict:
    """``add_eos_token`` when the config asks (``model.append_eos``): transformers' tokenizer then appends its EOS
    token to every input, as MTEB's instruction wrapper runs gte-Qwen2 (``add_eos_token=True``)."""
    return {"add_eos_token": True} if resolved.spec.append_eos else {}


def _auto_tokenizer(resolved: ResolvedModel, folder, access: door.Access):
    """The tokenizer of an encoder folder, as every evaluation load reads it (trust as the door gives it, the EOS token
    when ``model.append_eos`` asks)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, trust_remote_code=access.trust_remote_code,
                                         **_tokenizer_kwargs(resolved))


def check_append_eos(resolved: ResolvedModel, tokenizer) -> None:
    """With ``model.append_eos`` the tokenizer must really end every input with its EOS token (a tokenizer class
    that ignores ``add_eos_token`` would give another model's inputs, silently)."""
    if not resolved.spec.append_eos:
        return
    eos = getattr(tokenizer, "eos_token_id", None)
    ids = tokenizer("a")["input_ids"] if eos is not None else []
    if eos is None or not ids or ids[-1] != eos:
        raise BenchError(f"model '{resolved.spec.name}' sets model.append_eos=true, but its tokenizer "
                         f"({type(tokenizer).__name__}, EOS {getattr(tokenizer, 'eos_token', None)!r}) does not end "
                         f"inputs with an EOS token; set model.append_eos=false or use a tokenizer that honours "
                         f"add_eos_token.")


def _placement_kwargs(max_memory: dict[str, int] | None) -> dict:
    """One copy spread over devices (``encode.shard``): transformers' ``device_map="auto"`` within ``max_memory``
    (:func:`bench.models.capacity.placement`), placed by accelerate, whole layers per device."""
    if not max_memory:
        return {}
    from bench.models.capacity import accelerate_memory

    return {"device_map": "auto", "max_memory": accelerate_memory(max_memory)}


def load_transformer(resolved: ResolvedModel, device: str, dtype=torch.float32, attn_implementation: str | None = None,
                     max_memory: dict[str, int] | None = None):
    """Tokenizer, bare encoder (``AutoModel``) from the resolved directory, and the names of the encoder's
    weights that the checkpoint lacked (transformers initialised them randomly: e.g. a pooler of a model
    trained with masked-LM only). ``max_memory`` (device: bytes): one copy spread over those devices
    instead of on ``device``."""
    from transformers import AutoModel

    folder = transformer_dir(resolved.path)
    with door.open_model(resolved, f"cannot load model from {folder}") as access:
        tokenizer = _auto_tokenizer(resolved, folder, access)
        model, info = AutoModel.from_pretrained(folder, trust_remote_code=access.trust_remote_code,
                                                output_loading_info=True,
                                                **_model_kwargs(resolved, dtype, attn_implementation),
                                                **_placement_kwargs(max_memory))
    check_usable(resolved, tokenizer, model.config)
    check_append_eos(resolved, tokenizer)
    placed = model if max_memory else model.to(device)  # a spread model stays where accelerate put it
    return tokenizer, placed.eval(), frozenset(info.get("missing_keys", ()))


def load_tokenizer_and_config(resolved: ResolvedModel):
    """Tokenizer and encoder config, checked as :func:`load_transformer` checks them, without the weights (an
    exported model's run: the export holds them)."""
    from transformers import AutoConfig

    folder = transformer_dir(resolved.path)
    with door.open_model(resolved, f"cannot load model from {folder}") as access:
        tokenizer = _auto_tokenizer(resolved, folder, access)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=access.trust_remote_code)
    check_usable(resolved, tokenizer, config)
    check_append_eos(resolved, tokenizer)
    return tokenizer, config


def load_tokenizer(resolved: ResolvedModel):
    """The model's tokenizer alone (data-parallel encoding sorts by length in the main process, without weights)."""

    folder = transformer_dir(resolved.path)
    with door.open_model(resolved, f"cannot load the tokenizer from {folder}", auto_class=None) as access:
        return _auto_tokenizer(resolved, folder, access)


def load_sentence_transformer(resolved: ResolvedModel, device: str, dtype=torch.float32,
                              attn_implementation: str | None = None, max_memory: dict[str, int] | None = None):
    """The model's own sentence-transformers pipeline (``pooling=sbert``); ``max_memory``: its transformer spread
    over those devices (sentence-transformers passes the ``device_map`` on to transformers)."""
    if not (resolved.path / "modules.json").is_file():
        raise NotApplicable(
            f"model '{resolved.spec.name}' has no sentence-transformers pipeline (no modules.json in "
            f"{resolved.path}); use a hidden-state pooling such as mean, cls or max."
        )
    from sentence_transformers import SentenceTransformer

    if max_memory and is_static(resolved.path):  # no transformer to spread: averaged token vectors, small
        max_memory, device = None, next(iter(max_memory))
    extra = {"tokenizer_kwargs": _tokenizer_kwargs(resolved)} if resolved.spec.append_eos else {}
    with door.open_model(resolved, f"cannot load the sentence-transformers pipeline of '{resolved.spec.name}' from "
                                   f"{resolved.path}", pipeline=True) as access:
        model = SentenceTransformer(str(resolved.path), device=None if max_memory else device,
                                    trust_remote_code=access.trust_remote_code, local_files_only=True,
                                    model_kwargs={**_model_kwargs(resolved, dtype, attn_implementation),
                                                  **_placement_kwargs(max_memory)}, **extra)
    # Prompts are bench's (model.prompts, by task type): a default prompt in the model's own config
    # would be added on top of them, silently.
    if getattr(model, "default_prompt_name", None):
        log.info("ignoring the model's default prompt '%s'; bench applies model.prompts", model.default_prompt_name)
        model.default_prompt_name = None
    check_usable(resolved, model.tokenizer, _pipeline_config(model))
    check_append_eos(resolved, model.tokenizer)
    if not is_static(resolved.path):  # a static embedding never truncates: it has no length to set
        model.max_seq_length = resolved.spec.max_seq_length
    return model.eval()


def _pipeline_config(model):
    """The transformer's config of a sentence-transformers pipeline (None for a static embedding)."""
    return getattr(getattr(model[0], "auto_model", None), "config", None)


def load_for_training(resolved: ResolvedModel, pooling: str, device: str):
    """The base of a siamese fine-tuning (``bench.train``) as a sentence-transformers model: its own pipeline when
    it has one, else the raw encoder with the recipe's ``pooling`` added. Not evaluation's pipeline: bench's
    prompts only (the model's default prompt dropped), the model's length set, the EOS token appended when
    ``model.append_eos`` asks (as evaluation tokenizes), nothing else changed."""
    from sentence_transformers import SentenceTransformer

    modules = st_modules()
    pipeline = (resolved.path / "modules.json").is_file()
    with door.open_model(resolved, f"cannot load '{resolved.spec.name}' from {resolved.path} for training",
                         pipeline=pipeline) as access:
        if pipeline:
            model = SentenceTransformer(str(resolved.path), device=device, trust_remote_code=access.trust_remote_code,
                                        model_kwargs=access.model_kwargs,
                                        **({"tokenizer_kwargs": _tokenizer_kwargs(resolved)} if resolved.spec.append_eos
                                           else {}))
        else:
            transformer = modules.Transformer(str(resolved.path), max_seq_length=resolved.spec.max_seq_length,
                                              model_kwargs={**access.model_kwargs,
                                                            "trust_remote_code": access.trust_remote_code},
                                              **({"tokenizer_args": _tokenizer_kwargs(resolved)}
                                                 if resolved.spec.append_eos else {}))
            dim = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
            model = SentenceTransformer(modules=[transformer, modules.Pooling(dim(), pooling_mode=pooling)],
                                        device=device)
    check_usable(resolved, model.tokenizer, _pipeline_config(model))
    check_append_eos(resolved, model.tokenizer)  # trained on the inputs it is evaluated on (model.append_eos)
    model.default_prompt_name = None  # prompts are bench's (model.prompts)
    model.max_seq_length = resolved.spec.max_seq_length
    return model


def load_masked_lm(resolved: ResolvedModel):
    """Tokenizer and encoder with its masked-LM head (``AutoModelForMaskedLM``) for masked-LM pre-training."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    with door.open_model(resolved, f"cannot load '{resolved.spec.name}' from {resolved.path} for masked-LM training",
                         auto_class="AutoModelForMaskedLM") as access:
        tokenizer = AutoTokenizer.from_pretrained(str(resolved.path), trust_remote_code=access.trust_remote_code)
        model = AutoModelForMaskedLM.from_pretrained(str(resolved.path), trust_remote_code=access.trust_remote_code,
                                                     **access.model_kwargs)
    if tokenizer.mask_token is None:
        raise BenchError(f"'{resolved.spec.name}' has no mask token: masked-LM training needs one.")
    check_usable(resolved, tokenizer, model.config)
    return tokenizer, model


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
    check_length_limit(resolved)
    check_vocabulary(resolved, tokenizer, config)
    limit = position_limit(config) if config is not None else None
    if limit is not None and resolved.spec.max_seq_length is not None and resolved.spec.max_seq_length > limit:
        raise BenchError(f"model.max_seq_length={resolved.spec.max_seq_length} exceeds what '{resolved.spec.name}' "
                         f"can take ({limit} tokens, from its {config.max_position_embeddings} position embeddings); "
                         f"use model.max_seq_length={limit} or less.")


def check_vocabulary(resolved: ResolvedModel, tokenizer, config) -> None:
    """The tokenizer has a real vocabulary (more than its special tokens) that fits the model's embedding table."""
    name = resolved.spec.name
    size = tokenizer.get_vocab_size() if hasattr(tokenizer, "get_vocab_size") else len(tokenizer)  # tokenizers' own
    specials = len(set(getattr(tokenizer, "all_special_tokens", ())))
    if size <= specials + 1:  # what transformers builds when the vocabulary files are missing
        raise BenchError(f"model '{name}': the tokenizer in {resolved.path} has only {size} tokens (its special "
                         f"tokens), so every word would be unknown; the tokenizer files are missing or broken.")
    vocab = getattr(config, "vocab_size", None)
    if isinstance(vocab, int) and size > vocab:
        raise BenchError(f"model '{name}': the tokenizer has {size} tokens but the model's embedding table only "
                         f"{vocab}: tokenizer and weights do not belong together.")


def check_length_limit(resolved: ResolvedModel) -> None:
    """``max_seq_length: null`` (no limit) only for a static embedding, which never truncates; a transformer has one."""
    static = is_static(resolved.path)
    if resolved.spec.max_seq_length is None and not static:
        raise BenchError(f"model '{resolved.spec.name}': model.max_seq_length is null, which only a static embedding "
                         f"(no transformer, no truncation) can have; give the length to truncate at, e.g. 512.")
    if static and resolved.spec.max_seq_length is not None:
        raise BenchError(f"model '{resolved.spec.name}' is a static embedding, which never truncates: set "
                         f"model.max_seq_length=null (it is part of the result's identity).")


def st_modules():
    """sentence-transformers' module classes (Transformer, Pooling, Normalize, Dense): their home since
    sentence-transformers 6 (importing them from the old ``sentence_transformers.models`` warns there),
    else the old one."""
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models as modules
    return modules


#: A tokenizer that maps more than this share of a task's tokens to its unknown token is refused before encoding:
#: the model would see a placeholder for much of the text, and its vectors would measure little. Real models on
#: the Polish suite stay far below it (measured on the test splits: none for all-MiniLM-L6-v2, at most 5.3% for
#: the tests' replicas of the hub models, whose vocabularies are tiny); a vocabulary without the language's words
#: is far above (a 12-token vocabulary: every word unknown).
MAX_UNKNOWN_SHARE = 0.25
#: Distinct sentences per task the share is measured on (evenly spread over the sorted distinct sentences, so
#: the sample is deterministic).
UNKNOWN_SAMPLE = 1000


def sample_sentences(sentences: list[str], size: int = UNKNOWN_SAMPLE) -> list[str]:
    """Up to ``size`` distinct sentences, evenly spread over them in sorted order: the same sample every run."""
    distinct = sorted(set(sentences))
    step = max(1, -(-len(distinct) // size))
    return distinct[::step]


def _encoding_tokenizer(resolved: ResolvedModel, pipeline: bool):
    """The tokenizer encoding will use: the transformer's (``AutoTokenizer``), or, for a pipeline whose first
    module is a ``StaticEmbedding``, that module's ``tokenizer.json``. Returns ``(tokenize, unk_id)``:
    ``tokenize(texts)`` gives token ids per text without special tokens. A model in memory
    (:mod:`bench.models.memory`) uses its own tokenizer object; an encode-only object has none: ``None``."""
    if getattr(resolved, "path", None) is None:
        tokenizer = getattr(resolved, "tokenizer", None)
        if tokenizer is None or not callable(tokenizer):
            return None
        return (lambda texts: tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"],
                getattr(tokenizer, "unk_token_id", None))
    where = transformer_dir(resolved.path)
    with door.open_model(resolved, f"model '{resolved.spec.name}': cannot load the tokenizer in {where}",
                         auto_class=None) as access:  # unreadable or inconsistent tokenizer files
        first = pipeline_modules(resolved.path)[0] if pipeline else None
        if first is not None and first.type.endswith("StaticEmbedding"):
            from tokenizers import Tokenizer

            static = Tokenizer.from_file(str(resolved.path / first.path / "tokenizer.json"))
            unk = getattr(static.model, "unk_token", None)
            return (lambda texts: [e.ids for e in static.encode_batch(texts, add_special_tokens=False)],
                    static.token_to_id(unk) if isinstance(unk, str) else None)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=access.trust_remote_code)
    return (lambda texts: tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"],
            tokenizer.unk_token_id)


def unknown_share(tokenize, unk_id: int | None, texts: list[str]) -> float:
    """The share of ``texts``' tokens that are the unknown token (0 for a tokenizer without one, e.g. byte-level)."""
    ids = tokenize(texts)
    total = sum(len(x) for x in ids)
    if unk_id is None or total == 0:
        return 0.0
    return sum(x.count(unk_id) if isinstance(x, list) else int((x == unk_id).sum()) for x in ids) / total


def check_unknown_tokens(resolved: ResolvedModel, pipeline: bool, texts_by_task: dict[str, list[str]]) -> dict:
    """Before any encoding: the tokenizer can tokenize each task's sentences (a sample, :func:`sample_sentences`)
    and maps at most :data:`MAX_UNKNOWN_SHARE` of their tokens to the unknown token. Returns the share per task."""
    name = resolved.spec.name
    where = transformer_dir(resolved.path) if getattr(resolved, "path", None) is not None else "memory"
    found = _encoding_tokenizer(resolved, pipeline)
    if found is None:  # an encode-only object: its tokenization is its own
        return {}
    tokenize, unk_id = found
    shares = {}
    for task, texts in texts_by_task.items():
        sample = sample_sentences(texts)
        try:
            shares[task] = unknown_share(tokenize, unk_id, sample)
        except Exception as exc:  # e.g. a WordPiece vocabulary without its unknown token
            log.debug("%s's tokenizer on %s", name, task, exc_info=exc)
            raise BenchError(f"model '{name}': its tokenizer cannot tokenize the sentences of task '{task}' "
                             f"({exc.__class__.__name__}: {first_line(exc)}); the tokenizer files in "
                             f"{where} are broken (e.g. a vocab.txt without [UNK]).") from exc
        log.debug("%s on %s: %.4f%% of the tokens of %d sentences are unknown", name, task, 100 * shares[task],
                  len(sample))
        if shares[task] > MAX_UNKNOWN_SHARE:
            raise BenchError(f"model '{name}': its tokenizer maps {shares[task]:.1%} of the tokens of task '{task}' "
                             f"(measured on {len(sample)} of its sentences) to the unknown token, more than "
                             f"{MAX_UNKNOWN_SHARE:.0%}: its vocabulary does not cover the task's language, so its "
                             f"vectors would measure nothing. Use a model whose tokenizer covers it.")
    return shares
