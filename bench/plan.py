"""A run's plan: everything decided and checked before any vector is computed.

Settings are range-checked, output folders checked writable, every task's data read and validated (only
the splits the run needs), the evaluation mode chosen and its checks run (a split on which the main score is undefined is refused),
the model resolved (downloaded, weights and tokenizer files present, its tokenizer able to tokenize each task's
sentences with few unknown tokens). Bad input fails here, in seconds, with nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.atomic import check_writable_dir
from bench.config import MAX_SEED
from bench.encoding.backends import BackendSpec, calibration_corpus
from bench.encoding.compress import CompressionSpec
from bench.encoding.device import pick_device, pick_dtype
from bench.encoding.parallel import pick_devices
from bench.encoding.pooling import COMPOSITES, PoolingSpec
from bench.errors import BenchError, NotApplicable, unknown_choice
from bench.evaluators import Evaluator, evaluator_for
from bench.models.capacity import memory_cap
from bench.models.loading import ResolvedModel, check_unknown_tokens, resolve
from bench.models.spec import ModelSpec
from bench.models.weights import is_static, vector_size
from bench.results.record import OVERWRITE_POLICIES
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec, load_task, task_specs


@dataclass(frozen=True)
class EncodeSettings:
    """How the vectors are computed, decided once: batches, progress bar, CPU threads, the embedding cache (and
    the exported models kept in it)."""

    batch_size: int
    progress: bool
    threads: int | None
    #: batches an exported backend computes at once (null: its default, bench.encoding.backends.stream_plan)
    streams: int | None
    cache_dir: str
    cache_enabled: bool

    @property
    def export_root(self) -> Path:
        return Path(self.cache_dir) / "exports"


@dataclass(frozen=True)
class Output:
    """Where results go, and what an existing result with the same identity means (``overwrite``)."""

    results_dir: str
    overwrite: str


@dataclass
class Decisions:
    """What the config alone decides, before any data or model is read: the first step of :func:`plan`, and all
    that preflight needs besides the data and the model."""

    model_spec: ModelSpec
    compression: CompressionSpec
    evaluator: Evaluator
    specs: list[TaskSpec]
    splits: dict[str, tuple[str, ...]]  # the splits each task's run reads (:func:`splits_needed`)
    device: str
    dtype: str
    devices: list[str] | None  # data-parallel encoding: one process per device (bench.encoding.parallel)
    backend: BackendSpec  # the runtime that runs the encoder (bench.encoding.backends)
    shard: bool  # one copy spread over the devices instead of one per device (bench.models.capacity)
    max_memory: int | None  # the most bytes to take of each device (encode.max_memory)
    encode: EncodeSettings
    seed: int
    bootstrap: int  # resamples of the confidence intervals (stats.bootstrap)
    level: float  # their confidence level (stats.level)
    output: Output


@dataclass
class Plan(Decisions):
    """The record of a run: every decision, made once in :func:`plan`; nothing downstream reads the config."""

    data: dict[str, dict[str, PairData]]
    fits: dict[str, PairData]
    resolved: ResolvedModel
    pooling: PoolingSpec
    #: The strategy first, then the companions computed in the same forward pass (encode.precompute).
    companions: list[PoolingSpec]
    #: Why this strategy and this maximum length (asked for, the model config's, or the model's own files).
    reasons: dict[str, str]

    @property
    def strategy(self) -> str:
        """The strategy's name in results: the pooling, a quantized model's precision (``mean+onnx-int8``), and
        its compression (``mean+pca256``)."""
        return (self.pooling.slug + (f"+{self.backend.slug}" if self.backend.slug else "")
                + (f"+{self.compression.slug}" if self.compression.active else ""))


RANGES = (
    ("seed", int, lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED} (numpy's seed range)"),
    ("encode.batch_size", int, lambda v: v >= 1, "an integer >= 1"),
    ("encode.threads", int, lambda v: v >= 1, "null or an integer >= 1"),
    ("encode.streams", int, lambda v: v >= 1, "null or an integer >= 1"),
    ("stats.bootstrap", int, lambda v: v >= 0, "an integer >= 0 (0: no intervals)"),
    ("leaderboard.resamples", int, lambda v: v >= 0, "an integer >= 0 (0: no significance marks)"),
    ("stats.level", float, lambda v: 0 < v < 1, "a confidence level between 0 and 1, e.g. 0.95"),
)


def check_settings(cfg: DictConfig) -> None:
    """Numeric ranges and choices the schema's types cannot express (types are checked when Hydra composes)."""
    for key, kind, valid, expected in RANGES:
        value = OmegaConf.select(cfg, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not valid(kind(value))):
            raise BenchError(f"{key}={value!r} is not valid: expected {expected}.")
    if str(cfg.overwrite) not in OVERWRITE_POLICIES:
        raise unknown_choice("overwrite policy", str(cfg.overwrite), OVERWRITE_POLICIES)


def plan(cfg: DictConfig, model: ResolvedModel | None = None) -> Plan:
    """``model``: a model already in memory (:class:`bench.models.memory.InMemoryModel`) instead of ``cfg.model``.

    The steps, each also run by preflight (which collects their problems instead of stopping at the first):
    :func:`decide` (the config alone), :func:`read_task` (each task's data), :func:`prepare_model` (the model
    and the strategy)."""
    decided = decide(cfg, model)
    check_outputs(decided)
    if decided.backend.static:  # a fixed corpus from the whole task group (not the run's selection): one export serves all
        decided.backend = decided.backend.calibrated(calibration_corpus(task_specs(cfg.task), cfg.data.root))
    data = {spec.result_name: read_task(cfg, spec, decided) for spec in decided.specs}
    fits = ({spec.result_name: fit_split_for(spec, data, decided.compression) for spec in decided.specs}
            if decided.compression.active else {})
    resolved, pooling, reasons = prepare_model(cfg, decided, data, model)
    return Plan(**{**vars(decided), "model_spec": resolved.spec}, data=data, fits=fits, resolved=resolved,
                pooling=pooling, companions=companions(pooling, cfg.encode.precompute), reasons=reasons)


def decide(cfg: DictConfig, model: ResolvedModel | None = None) -> Decisions:
    """Every decision the config alone makes (ranges, model spec, asked strategy, compression, evaluation mode,
    tasks, runtime and whether it can run here, devices, precision, encoding, statistics, output), checked;
    nothing is read or written."""
    check_settings(cfg)
    model_spec = model.spec if model is not None else ModelSpec.from_config(cfg.model)
    asked = requested_pooling(cfg.pooling)
    if asked is not None:
        check_applicable(model_spec, asked)
    compression = CompressionSpec.from_config(cfg.compression)
    evaluator = evaluator_for(cfg)
    specs = evaluator.select(task_specs(cfg.task))
    backend = BackendSpec.from_config(cfg.encode, model_spec.attn_implementation)
    check_backend(cfg, backend)
    # an exported model runs on the CPU: device=auto means the CPU for it even where a GPU is present
    device = "cpu" if backend.exported and str(cfg.encode.device) == "auto" else pick_device(str(cfg.encode.device))
    devices = pick_devices(OmegaConf.to_container(cfg.encode.devices) if cfg.encode.get("devices") is not None else None)
    if devices and backend.exported:
        raise BenchError(f"encode.devices runs PyTorch processes; encode.backend={backend.name} runs one "
                         f"ONNX Runtime/OpenVINO process with its own threads: remove encode.devices.")
    shard = bool(cfg.encode.get("shard", False))
    if shard and backend.exported:
        raise BenchError(f"encode.shard=true spreads a PyTorch model over devices; encode.backend={backend.name} "
                         f"runs an exported model in one process: remove encode.shard.")
    if shard and devices and len(set(devices)) < len(devices):
        raise BenchError(f"encode.shard=true spreads one model copy over distinct devices, but encode.devices="
                         f"[{','.join(devices)}] names one twice; list each device once.")
    dtype = str(pick_dtype((devices or [device])[0], bool(cfg.encode.half))).removeprefix("torch.")
    encode = EncodeSettings(int(cfg.encode.batch_size), bool(cfg.encode.progress),
                            int(cfg.encode.threads) if cfg.encode.threads else None,
                            int(cfg.encode.streams) if cfg.encode.get("streams") else None, str(cfg.cache.dir),
                            bool(cfg.cache.enabled))
    return Decisions(model_spec=model_spec, compression=compression, evaluator=evaluator, specs=specs,
                     splits=splits_needed(specs, cfg.data.root, evaluator, compression), device=device,
                     dtype=dtype, devices=devices, backend=backend, shard=shard,
                     max_memory=memory_cap(cfg.encode.get("max_memory")), encode=encode, seed=int(cfg.seed),
                     bootstrap=int(cfg.stats.bootstrap), level=float(cfg.stats.level),
                     output=Output(str(cfg.results_dir), str(cfg.overwrite)))


def check_outputs(decided: Decisions) -> None:
    """Before any work, not after the encoding pass: the results folder can be written, the cache read."""
    check_writable_dir(decided.output.results_dir, "results_dir")
    if decided.encode.cache_enabled:
        try:
            check_writable_dir(decided.encode.cache_dir, "cache.dir")
        except BenchError:
            if not Path(decided.encode.cache_dir).expanduser().is_dir():
                raise
            # a cache folder this user cannot write (a group's read-only cache, a read-only mount) is still read;
            # its writes are skipped with one warning when they come (bench.encoding.cache)


def check_backend(cfg: DictConfig, backend: BackendSpec) -> None:
    """The runtime can run here: its package is installed, and the device and precision asked for suit it."""
    backend.check(str(cfg.encode.device), bool(cfg.encode.half))
    if cfg.encode.get("streams") is not None and not backend.exported:
        raise BenchError("encode.streams sets how many batches an exported backend (encode.backend=onnx or openvino) "
                         "computes at once; PyTorch runs one batch at a time on encode.threads threads (or one "
                         "process per device with encode.devices=[cpu,cpu]). Remove encode.streams or choose a backend.")


def read_task(cfg: DictConfig, spec: TaskSpec, decided: Decisions) -> dict[str, PairData]:
    """One task's data: the splits this run reads (:func:`splits_needed`), validated, then the evaluation
    mode's own checks (a split on which the main score is undefined is refused)."""
    parts = load_task(spec, cfg.data.root, splits=decided.splits[spec.result_name],
                      check_rows=bool(cfg.data.check_rows))
    decided.evaluator.check(spec, parts)
    return parts


def prepare_model(cfg: DictConfig, decided: Decisions, data: dict[str, dict[str, PairData]],
                  model: ResolvedModel | None = None) -> tuple[ResolvedModel, PoolingSpec, dict[str, str]]:
    """The model resolved (downloaded, its files checked), the strategy chosen, and what can be checked before
    encoding: a static model asked for hidden states, a tokenizer that does not know the data's words, a
    compressed size larger than the vectors."""
    resolved = model if model is not None else resolve(decided.model_spec)
    pooling, reasons = choose_strategy(cfg.pooling, resolved)
    if getattr(resolved, "path", None) is not None and is_static(resolved.path) and not pooling.uses_pipeline:
        raise BenchError(f"model '{decided.model_spec.name}' is a static embedding (averaged token vectors, no "
                         f"transformer): it has no hidden states to pool with pooling={pooling.name}; use pooling=sbert.")
    check_unknown_tokens(resolved, pooling.uses_pipeline,
                         {name: [s for part in parts.values() for s in part.sentences] for name, parts in data.items()})
    check_compressed_size(decided.compression, resolved, pooling)
    return resolved, pooling, reasons


#: The pooling config that leaves the strategy to the model (conf/pooling/auto.yaml).
AUTO = "auto"


def requested_pooling(pooling_cfg) -> PoolingSpec | None:
    """The strategy the config names, checked now (before data and model load); None for ``pooling=auto``, which
    the model decides once it is resolved (:func:`choose_strategy`)."""
    values = OmegaConf.to_container(pooling_cfg, resolve=True) if isinstance(pooling_cfg, DictConfig) else dict(pooling_cfg)
    return None if (values.get("fn") or values.get("name")) == AUTO else PoolingSpec.from_config(values)


def choose_strategy(pooling_cfg, resolved: ResolvedModel) -> tuple[PoolingSpec, dict[str, str]]:
    """The strategy a run uses, and why it and the maximum length are what they are.

    A strategy named in the config (``pooling=cls`` on the command line, or a model config's own ``override
    /pooling``) is used as named. ``pooling=auto`` (the default when none is asked for) takes the model's default:
    its config's ``default_pooling``, or for ``default_pooling: auto`` (``model=org/name``, a folder) its
    sentence-transformers pipeline when it ships one, else ``mean``. ``pooling.layers`` / ``pooling.normalize``
    given with ``auto`` apply to the chosen strategy."""
    from bench.config import conf_values, group_choices

    spec = resolved.spec
    asked = requested_pooling(pooling_cfg)
    own = getattr(resolved, "reasons", {})  # what resolve() read from the model's files (none for a model in memory)
    length_reason = own.get("max_seq_length") or "the model config's max_seq_length (model.max_seq_length)"
    if asked is not None:
        by_config = asked.name == spec.default_pooling and "pooling" not in own  # not an auto default
        reason = (f"the model config's default pooling (model.default_pooling={asked.name})" if by_config
                  else f"asked for (pooling={asked.name})")
        return asked, {"strategy": reason, "max_seq_length": length_reason}
    name = spec.default_pooling
    choices = [c for c in group_choices("pooling") if c != AUTO]
    if name not in choices:
        raise unknown_choice(f"model.default_pooling of '{spec.name}'", name, [*choices, AUTO])
    values = OmegaConf.to_container(pooling_cfg, resolve=True) if isinstance(pooling_cfg, DictConfig) else dict(pooling_cfg)
    chosen = conf_values("pooling", name)
    if list(values.get("layers") or [-1]) != [-1]:
        chosen["layers"] = list(values["layers"])
    if values.get("normalize"):
        chosen["normalize"] = True
    pooling = PoolingSpec.from_config(chosen)
    check_applicable(spec, pooling)
    reason = own.get("pooling") or f"the model config's default pooling (model.default_pooling={name})"
    return pooling, {"strategy": reason, "max_seq_length": length_reason}


def check_applicable(model_spec: ModelSpec, pooling: PoolingSpec) -> None:
    """The strategy exists for this model: ``sbert`` needs the model's own sentence-transformers pipeline."""
    if pooling.uses_pipeline and not model_spec.has_sbert:
        raise NotApplicable(
            f"model '{model_spec.name}' has no sentence-transformers pipeline, so pooling=sbert is not available; "
            f"use cls, mean, max, mean_max or first_last_avg (set has_sbert: true in its config if it ships one)."
        )


def check_compressed_size(compression: CompressionSpec, resolved: ResolvedModel, pooling: PoolingSpec) -> None:
    """``compression.dims`` against the size of the strategy's vectors, when the model's config files state it:
    a dimension the vectors do not have fails here, not after the encoding pass."""
    if not compression.compressor_class.needs_dims or resolved.path is None:  # in memory: checked on the vectors
        return
    parts = len(COMPOSITES.get(pooling.fn, (pooling.fn,)))
    size = vector_size(resolved.path, pipeline=pooling.uses_pipeline, parts=parts)
    if size is not None and compression.dims > size:
        raise NotApplicable(f"compression.dims={compression.dims} exceeds the embedding size {size} "
                            f"(model {resolved.spec.name}, strategy {pooling.slug}).")


def splits_needed(specs: list[TaskSpec], root, evaluator: Evaluator,
                  compression: CompressionSpec) -> dict[str, tuple[str, ...]]:
    """The splits each task's run reads: the evaluated one, what the evaluator needs (validation for
    held-out thresholds, train and validation for a probe), the compression's fit split for the task it is
    fitted on; nothing else, so a language with a test file only runs."""
    names: dict[str, set[str]] = {spec.result_name: {spec.eval_split} for spec in specs}
    by_name = {spec.name: spec.result_name for spec in specs} | {spec.result_name: spec.result_name for spec in specs}
    for spec in specs:
        names[spec.result_name] |= evaluator.splits(spec, spec.available_splits(root))
        if compression.active:
            owner = by_name.get(compression.fit_task or spec.result_name)
            if owner is not None:
                names[owner].add(compression.fit_split)
    return {spec.result_name: tuple(s for s in spec.splits if s in names[spec.result_name]) for spec in specs}


def fit_split_for(spec: TaskSpec, data: dict[str, dict[str, PairData]], compression: CompressionSpec) -> PairData:
    """The split a task's compressor is fitted on: never the split being evaluated."""
    owner = compression.fit_task or spec.result_name
    if owner not in data:
        raise BenchError(f"compression.fit_task={owner} is not among this run's tasks ({', '.join(data)}); "
                         f"run it together with them, e.g. in the polish suite.")
    if compression.fit_split not in data[owner]:
        raise BenchError(f"compression needs the '{compression.fit_split}' split of {owner}, which this data source "
                         f"lacks; use data.root with the original files.")
    if owner == spec.result_name and compression.fit_split == spec.eval_split:
        raise BenchError(f"compression would be fitted on {owner}/{spec.eval_split}, the split being evaluated.")
    return data[owner][compression.fit_split]


def companions(pooling: PoolingSpec, precompute) -> list[PoolingSpec]:
    """The requested strategy first, then the companions that share its forward pass.

    Hidden-state strategies are cheap next to the transformer itself, so whenever the model runs it
    also computes ``encode.precompute`` (names of ``conf/pooling`` files, or inline specs) and caches
    them: a sweep over strategies then costs one forward pass. ``sbert`` runs its own pipeline alone.
    """
    from bench.config import conf_values, group_choices

    if pooling.uses_pipeline:
        return [pooling]
    out = [pooling]
    for item in precompute or ():
        if isinstance(item, str):
            if item not in group_choices("pooling"):
                raise unknown_choice("pooling (in encode.precompute)", item, group_choices("pooling"))
            item = conf_values("pooling", item)  # the file's values: composing a whole config costs ~0.5 s
        spec = PoolingSpec.from_config(item)
        if not spec.uses_pipeline and spec.slug not in {s.slug for s in out}:
            out.append(spec)
    return out
