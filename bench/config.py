"""The config schema: one typed node per config group, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` hold the values (and say what they mean); these dataclasses say which
keys exist and of which type. Hydra composes the YAML into them, so an unknown key (a typo, or
``+pooling.layer=[-2]``) and a value of the wrong type (``encode.batch_size=2.5``) are refused while
the command line is read, before any work (:mod:`bench.launch.cli` turns Hydra's message into one line with
the valid keys and a "did you mean"). Fields without a default must be set by the YAML; defaults here
exist only for keys a YAML file may leave out, and no code repeats them. A field's valid range or choices
(:func:`valid`, :func:`one_of`) are written beside its type and checked where the domain object is built
(:func:`check_values`); the recipes are built from their schema (:func:`frozen_from`, :func:`domain_values`), so a
new knob is one field here and one line in its YAML. The ``task`` group (a task, or a suite of them) is not typed
for Hydra: :class:`TaskConfig` lists its keys and :func:`check_keys` refuses others, naming the file that has them.
"""

from dataclasses import MISSING as NO_DEFAULT
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from types import UnionType
from typing import Any, NamedTuple, Union, get_args, get_origin, get_type_hints

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

#: The YAML configs ship inside the package (``bench/conf``), found the same way from a checkout or a wheel.
CONF_DIR = Path(str(resources.files("bench.conf")))
#: Hydra's search path entry for them (``@hydra.main(config_path=...)``).
CONF_PACKAGE = "pkg://bench.conf"


def _version_base() -> dict:
    """Hydra's ``version_base`` argument: "1.3" for Hydra 1.3 (omitting it warns there); nothing from Hydra 1.4
    (which warns when it is given). pip installs 1.4's release candidates wherever a launcher plugin's
    requirement names a pre-release."""
    import hydra

    major, minor = (int(part) for part in hydra.__version__.split(".")[:2])
    return {} if (major, minor) >= (1, 4) else {"version_base": "1.3"}


#: ``**VERSION_BASE`` in every ``hydra.main``, ``initialize`` and ``initialize_config_dir`` call.
VERSION_BASE = _version_base()


def group_choices(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """Config names in a group; names starting with '_' are shared fragments, not choices."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml") if not p.stem.startswith("_"))


def conf_values(group: str, name: str, *, with_defaults: bool = False) -> dict:
    """The values one YAML file of a group sets (a ``@package _global_`` file: its block for the group),
    without its defaults list. Code that needs a group's defaults outside Hydra (a partial config written
    in Python) reads them here instead of repeating them. ``with_defaults``: merged over the values of the
    shared fragments its defaults list names (``- _schedule``, ``- /train/_schedule@_here_``), as Hydra does."""
    from omegaconf import OmegaConf

    values = _file_values(group, name, with_defaults)
    # interpolations of the default paths (``${paths.models}``) resolve as in a composed config
    root = OmegaConf.create({"paths": OmegaConf.load(CONF_DIR / "paths" / "default.yaml"), "values": values})
    return OmegaConf.to_container(root, resolve=True)["values"]


def _file_values(group: str, name: str, with_defaults: bool):
    """One file's values, unresolved; with the fragments of its defaults list merged in their order."""
    from omegaconf import DictConfig, OmegaConf

    values = OmegaConf.load(CONF_DIR / group / f"{name}.yaml")
    entries = list(values.pop("defaults", None) or [])
    if isinstance(values.get(group), DictConfig):  # a @package _global_ file (conf/model/hf.yaml)
        values = values[group]
    if not with_defaults:
        return values
    if "_self_" not in entries:
        entries.append("_self_")  # Hydra's rule: the file's own values last
    merged = OmegaConf.create()
    for entry in entries:
        path, _, package = str(entry).partition("@")
        if not isinstance(entry, str) or package not in ("", "_here_"):
            raise ValueError(f"conf/{group}/{name}.yaml: conf_values follows fragments at the same node only, "
                             f"not {entry!r}.")
        if path == "_self_":
            part = values
        else:
            where = path.lstrip("/").rpartition("/") if path.startswith("/") else (group, "", path)
            part = _file_values(where[0], where[2], True)
        merged = OmegaConf.merge(merged, part)
    return merged


def compose_config(overrides: list[str], config_name: str = "config"):
    """The config Hydra would compose for these overrides, from inside a Hydra app or outside one."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a Hydra app (a run, its callbacks)
        return compose(config_name=config_name, overrides=overrides)
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
            return compose(config_name=config_name, overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


@dataclass
class ModelConfig:
    name: str | None = MISSING
    name_or_path: str = MISSING
    hub_id: str | None = MISSING
    revision: str = MISSING
    max_seq_length: int | None = MISSING  # null: the model's own (bench.models.loading.resolve); no limit for static
    # by task name, task type or prompt type (bench.models.prompts), or null: the model's own. Untyped here (checked
    # by ModelSpec.from_config): OmegaConf cannot merge a dict (model.prompts={sts:...}) into a typed Optional[Dict]
    # node that holds null
    prompts: Any = field(default_factory=dict)
    instruction_template: str | None = None
    attn_implementation: str | None = None
    append_eos: bool = False
    default_pooling: str = MISSING  # a conf/pooling name, or auto
    has_sbert: bool = MISSING
    trust_remote_code: bool = False


@dataclass
class PoolingConfig:
    name: str = MISSING
    fn: str = MISSING
    layers: list[int] = MISSING
    normalize: bool = MISSING


@dataclass
class CompressionConfig:
    _target_: str = MISSING  # the Compressor class (bench/encoding/compress.py)
    dims: int | None = MISSING
    fit_split: str = MISSING
    fit_task: str | None = MISSING


@dataclass
class ProbeConfig:
    name: str = MISSING
    kind: str = MISSING
    tasks: list[str] = MISSING
    features: list[str] = MISSING
    grid: list[float] = MISSING
    labels: list[str] = field(default_factory=list)  # the classes of a classification probe
    max_iter: int = 2000


@dataclass
class DataConfig:
    root: str | None = MISSING
    check_rows: bool = MISSING


@dataclass
class EncodeConfig:
    batch_size: int = MISSING
    device: str = MISSING
    half: bool = MISSING
    progress: bool = MISSING
    threads: int | None = MISSING
    precompute: list[Any] = MISSING
    devices: list[str] | None = None  # one process per device (bench/encoding/parallel.py)
    shard: bool = False  # one model copy spread over encode.devices instead (bench/models/capacity.py)
    max_memory: str | None = None  # the most to take of each device (20GiB, bytes); null: its free memory
    backend: str = MISSING
    quantize: str | None = MISSING
    streams: int | None = None  # batches an exported backend computes at once (bench/encoding/backends.py)


@dataclass
class CacheConfig:
    dir: str = MISSING
    enabled: bool = MISSING


@dataclass
class ScoringConfig:
    heldout_thresholds: bool = MISSING


@dataclass
class StatsConfig:
    bootstrap: int = MISSING
    level: float = MISSING


@dataclass
class LeaderboardConfig:
    resamples: int = MISSING


#: The largest seed numpy (and so transformers' set_seed) takes.
MAX_SEED = 2**32 - 1


def valid(check, expected: str, default: Any = MISSING):
    """A schema field with the values it may take: ``check(value)`` must hold, ``expected`` says which (checked by
    :func:`check_values` when the domain object is built; null passes). The range is written once, beside the
    field's type; its default is in the group's YAML."""
    return field(default=default, metadata={"check": check, "expected": expected})


def one_of(*choices: str, default: Any = MISSING):
    """A schema field that takes one of ``choices`` (checked by :func:`check_values`)."""
    return field(default=default, metadata={"choices": choices})


@dataclass
class ScheduleConfig:
    """What a training recipe (``conf/train``) and a cross-encoder recipe (``conf/cross``) share: how long, how fast,
    in which batches and precision, evaluated how often, kept where. Their defaults: ``conf/train/_schedule.yaml``."""

    name: str = MISSING
    epochs: float = valid(lambda v: v >= 0, "a number >= 0")
    batch_size: int = valid(lambda v: v >= 2, "an integer >= 2 (pair losses need two examples per batch)")
    learning_rate: float = valid(lambda v: v > 0, "a number > 0")
    warmup_ratio: float = valid(lambda v: 0 <= v < 1, "a fraction of the training steps in [0, 1)")
    weight_decay: float = valid(lambda v: v >= 0, "a number >= 0")
    max_steps: int = MISSING  # > 0 overrides epochs
    eval_steps: int = valid(lambda v: v >= 1, "an integer >= 1")
    seed: int = valid(lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED} (numpy's seed range)")
    precision: str = MISSING  # one of bench.encoding.device.PRECISIONS (checked by the recipe)
    output_dir: str = MISSING
    max_train_pairs: int | None = valid(lambda v: v >= 1, "null (all pairs) or an integer >= 1")
    keep: str = one_of("best", "all")


@dataclass
class RecipeConfig(ScheduleConfig):
    """A siamese training recipe (``conf/train``); defaults: ``conf/train/_recipe.yaml``."""

    loss: str = MISSING
    tasks: list[str] = MISSING
    select_on: list[str] = MISSING
    pooling: str = one_of("mean", "cls", "max")
    matryoshka: list[int] = MISSING
    length_grouped: bool = MISSING
    resume: bool = MISSING
    save_total_limit: int = valid(lambda v: v >= 1, "an integer >= 1 (the best checkpoint must be kept)")
    evaluate_after: bool = MISSING
    evaluate_base: bool = MISSING
    evaluate_tasks: list[str] | None = MISSING
    objectives: list[Any] = MISSING
    stages: list[Any] = MISSING
    text_file: str | None = MISSING
    mlm_probability: float = valid(lambda v: 0 < v < 1, "a fraction of the tokens in (0, 1)")


@dataclass
class CrossConfig(ScheduleConfig):
    """A cross-encoder recipe (``conf/cross``); defaults: ``conf/cross/_cross.yaml``."""

    head: str = MISSING
    tasks: list[str] | None = MISSING
    max_length: int = valid(lambda v: v >= 8, "an integer >= 8 (tokens of a pair)")


@dataclass
class TargetConfig:
    """What a task's gold value is: a score in a range, or labels of which some count as positive."""

    kind: str = MISSING  # score | label
    score_range: list[float] | None = None
    labels: list[Any] = field(default_factory=list)
    positive: list[Any] = field(default_factory=list)


@dataclass
class LocalConfig:
    """A task's original files under ``data.root`` (bench.tasks.from_files.FileFormat)."""

    files: dict[str, str] = MISSING  # split -> file under data.root; {lang} is the task's language
    columns: list[str] = MISSING
    sentence1: str = MISSING
    sentence2: str = MISSING
    target: str = MISSING
    delimiter: str = "\t"
    quoting: str = "none"
    has_header: bool = True


@dataclass
class HubConfig:
    """A task's copy on the hub (bench.tasks.from_hub.HubSource)."""

    path: str = MISSING
    revision: str = MISSING
    files: dict[str, str] = MISSING
    sentence1: str = MISSING
    sentence2: str = MISSING
    target: str = MISSING
    name: str | None = None
    labels: list[Any] = field(default_factory=list)
    positive: list[Any] = field(default_factory=list)
    splits: dict[str, str] = field(default_factory=dict)  # bench split -> the dataset's split name


@dataclass
class TaskConfig:
    """A task (``conf/task/*.yaml``, read by bench.tasks.spec), or a suite: a ``name`` and its ``tasks``. Not
    typed for Hydra (``task`` is either); :func:`check_keys` refuses keys it lacks, naming the file."""

    name: str = MISSING
    mteb_name: str | None = None  # null: the name
    description: str = ""
    type: str = MISSING  # a scorer of bench.scoring.SCORERS
    lang: str = "pl"
    languages: dict[str, str] = MISSING  # code -> MTEB's language code
    splits: list[str] = field(default_factory=lambda: ["train", "validation", "test"])
    eval_split: str = "test"
    rows: dict[str, int] = field(default_factory=dict)  # split -> rows of the original file
    target: TargetConfig = MISSING
    local: LocalConfig | None = None  # null: a hub-only task
    hub: HubConfig = MISSING
    same_as_hub: dict[str, str] = field(default_factory=dict)  # split -> SHA-256 of an original file equal to it
    differs_from_hub: str | None = None
    tasks: dict[str, "TaskConfig"] | None = None  # a suite: its member tasks


@dataclass
class PathsConfig:
    root: str = MISSING
    data: str | None = MISSING
    results: str = MISSING
    cache: str = MISSING
    models: str = MISSING


@dataclass
class RunConfig:
    """``python -m bench``: conf/config.yaml."""

    paths: PathsConfig = MISSING
    model: ModelConfig = MISSING
    pooling: PoolingConfig = MISSING
    compression: CompressionConfig = MISSING
    probe: ProbeConfig | None = None
    # one task or a suite (tasks: {...}): not typed for Hydra, its keys checked against TaskConfig by check_keys
    task: Any = field(default=MISSING, metadata={"schema": TaskConfig})
    data: DataConfig = MISSING
    encode: EncodeConfig = MISSING
    cache: CacheConfig = MISSING
    scoring: ScoringConfig = MISSING
    stats: StatsConfig = MISSING
    leaderboard: LeaderboardConfig = MISSING
    results_dir: str = MISSING
    overwrite: str = MISSING
    seed: int = MISSING
    preflight: bool = MISSING
    train: RecipeConfig | None = None  # set by conf/finetune.yaml (python -m bench.train)
    cross: CrossConfig | None = None  # set by conf/crossencoder.yaml (python -m bench.cross)


def register() -> None:
    """Make the schema available to the defaults lists (``- bench_schema`` in conf/config.yaml)."""
    ConfigStore.instance().store(name="bench_schema", node=RunConfig)


register()


def launch_stamp() -> str:
    """The time of a launch and a random tag: two sweeps (or runs) started in the same second on the same
    results folder never share their Hydra folder, so their job reports never overwrite each other."""
    import secrets
    import time

    return f"{time.strftime('%Y-%m-%d_%H-%M-%S')}-{secrets.token_hex(3)}"


def register_resolvers() -> None:
    """``${bench_launch:}``: :func:`launch_stamp`, cached like Hydra's ``${now:}`` (one value per launch, which
    Hydra copies into every job's config, other processes included)."""
    import inspect

    from omegaconf import OmegaConf

    if OmegaConf.has_resolver("bench_launch"):
        return
    # omegaconf 2.4 renamed register_new_resolver (now deprecated) to register_resolver, which in 2.3 is the old,
    # deprecated string-argument API: the one that takes use_cache is the right one
    modern = "use_cache" in inspect.signature(OmegaConf.register_resolver).parameters
    register = OmegaConf.register_resolver if modern else OmegaConf.register_new_resolver
    register("bench_launch", launch_stamp, use_cache=True)


register_resolvers()


class _MapOf(NamedTuple):
    """A ``dict[str, <schema>]`` node (a suite's ``tasks``): any key, each value of that schema."""

    schema: type


def _node_schema(kind):
    """The schema of a node whose annotation is ``kind`` (a dataclass, optional or not, or a map of one)."""
    args = [a for a in get_args(kind) if a is not type(None)]
    if get_origin(kind) is dict and len(args) == 2 and is_dataclass(args[1]):
        return _MapOf(args[1])
    if is_dataclass(kind):
        return kind
    if get_origin(kind) in (Union, UnionType) and len(args) == 1:  # X | None
        return _node_schema(args[0])
    return None


def _hints(schema) -> dict:
    """Each field's schema: its annotation's, or the one its metadata names (``task``, untyped for Hydra)."""
    hints = get_type_hints(schema)
    return {f.name: f.metadata.get("schema") or _node_schema(hints[f.name]) for f in fields(schema)}


def _schema(path: str):
    """The dataclass that types a config node (``""`` is the root), a :class:`_MapOf`, or None for untyped nodes."""
    node = RunConfig
    for part in [p for p in path.split(".") if p]:
        if isinstance(node, _MapOf):
            node = node.schema
        elif is_dataclass(node):
            node = _hints(node).get(part)
        else:
            return None
    return node


def valid_keys(path: str) -> list[str]:
    node = _schema(path)
    return [f.name for f in fields(node)] if is_dataclass(node) else []


def check_keys(cfg, path: str = "", conf_dir: Path = CONF_DIR, _task: tuple[str, str] | None = None) -> None:
    """Keys that ``+key=...`` forced into a typed node, or that a task file has, are refused, with the valid keys
    (and, in a task, the file that sets it)."""
    from omegaconf import DictConfig

    from bench.errors import BenchError

    node = _schema(path)
    if node is None or not isinstance(cfg, DictConfig):
        return
    if node is TaskConfig:
        _task = (str(cfg._get_node("name")._value()) if "name" in cfg else "?", path)
    allowed = {f.name for f in fields(node)} if is_dataclass(node) else None
    for key in cfg.keys():
        full = f"{path}.{key}" if path else str(key)
        if allowed is not None and key not in allowed and key != "hydra":
            import difflib

            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" Did you mean '{(path + '.') if path else ''}{close[0]}'?" if close else ""
            where = f" ({_task_source(conf_dir, _task[0], full[len(_task[1]) + 1:])})" if _task else ""
            raise BenchError(f"unknown setting '{full}'{where}.{hint} Valid keys "
                             f"{'under ' + path if path else 'at the top level'}: {', '.join(sorted(allowed))}.")
        child = cfg._get_node(key)  # the node itself: no interpolation resolved, no missing value read
        if isinstance(child, DictConfig):
            check_keys(child, full, conf_dir, _task)


def _task_source(conf_dir: Path, name: str, key: str) -> str:
    """Which file of ``conf/task`` sets ``key`` (dotted, inside task ``name``), for an error message."""
    found = _setting_file(Path(conf_dir) / "task", name, key.split("."))
    if found is not None:
        return f"set in {found}"
    return f"task '{name}': not in conf/task/{name}.yaml, so from the command line or the API"


def _setting_file(folder: Path, name: str, key: list[str]) -> Path | None:
    """The file ``folder/name.yaml``, or a fragment its defaults list places (``_formats/sick_tsv@local``,
    ``ppc@_here_``), that writes ``key``; None when none does."""
    from omegaconf import OmegaConf

    path = folder / f"{name}.yaml"
    if not path.is_file():
        return None
    raw = OmegaConf.to_container(OmegaConf.load(path))
    if not isinstance(raw, dict):
        return None
    if _has(raw, key):
        return path
    for entry in raw.get("defaults") or []:
        fragment, _, package = str(entry).partition("@")
        prefix = [] if package in ("", "_here_") else package.split(".")
        if isinstance(entry, str) and fragment != "_self_" and key[:len(prefix)] == prefix:
            found = _setting_file(folder, fragment, key[len(prefix):])
            if found is not None:
                return found
    return None


def _has(values: dict, key: list[str]) -> bool:
    if not key:
        return False
    for part in key[:-1]:
        values = values.get(part) if isinstance(values, dict) else None
    return isinstance(values, dict) and key[-1] in values


def with_defaults(schema, values: dict) -> dict:
    """``values`` with the schema's defaults for the keys they leave out, in nested nodes too (a task's
    ``local``): code reads every key without repeating a default."""
    hints = _hints(schema)
    out = dict(values)
    for f in fields(schema):
        if f.name not in out and f.default_factory is not NO_DEFAULT:
            out[f.name] = f.default_factory()
        elif f.name not in out and f.default is not NO_DEFAULT and f.default != MISSING:
            out[f.name] = f.default
        if is_dataclass(hints[f.name]) and isinstance(out.get(f.name), dict):
            out[f.name] = with_defaults(hints[f.name], out[f.name])
    return out


def check_values(values, schema, section: str) -> None:
    """The ranges and choices the schema's fields declare (:func:`valid`, :func:`one_of`); null passes."""
    from bench.errors import BenchError, unknown_choice

    for f in fields(schema):
        value = getattr(values, f.name, None)
        if value is None:
            continue
        if "choices" in f.metadata and value not in f.metadata["choices"]:
            raise unknown_choice(f"{section}.{f.name}", value, f.metadata["choices"])
        if "check" in f.metadata and not f.metadata["check"](value):
            raise BenchError(f"{section}.{f.name}={value} is not valid: expected {f.metadata['expected']}.")


_NUMBERS = {int: "integer", float: "number"}


def _plain(kind):
    """(the type without None, whether None is allowed)."""
    args = [a for a in get_args(kind) if a is not type(None)]
    if type(None) in get_args(kind) and len(args) == 1:
        return args[0], True
    return kind, False


def domain_values(schema, values: dict, section: str) -> dict:
    """A config's values (defaults merged) in the form of the domain object built from ``schema``
    (:func:`frozen_from`): keys the schema lacks refused with the valid ones; numbers from text (``"3"`` from a
    command line is 3); lists as tuples (a null list stays null where the schema allows it, else is empty)."""
    from bench.errors import BenchError

    hints = get_type_hints(schema)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise BenchError(f"unknown {section} setting(s) {unknown}; valid: {', '.join(sorted(hints))}.")
    out = dict(values)
    for key, value in values.items():
        kind, optional = _plain(hints[key])
        if kind in _NUMBERS and value is not None:
            try:
                out[key] = kind(value)
            except (TypeError, ValueError):
                raise BenchError(f"{section}.{key}={value!r} is not a number.") from None
        elif get_origin(kind) is list:
            if value is None:
                out[key] = None if optional else ()
                continue
            item = get_args(kind)[0]
            try:
                out[key] = tuple(item(v) if item in _NUMBERS else dict(v) if isinstance(v, dict) else v
                                 for v in value)
            except (TypeError, ValueError):
                raise BenchError(f"{section}.{key} must list {_NUMBERS.get(item, 'valid')} values, got "
                                 f"{list(value)}.") from None
    return out


def frozen_from(schema):
    """Class decorator: a frozen dataclass whose fields are the schema's (lists as tuples), so that a domain object
    (bench.train.recipe.Recipe) never lists its fields a second time: a new knob is one schema field."""

    def build(cls):
        hints = get_type_hints(schema)
        cls.__annotations__ = {f.name: _frozen_type(hints[f.name]) for f in fields(schema)}
        return dataclass(frozen=True)(cls)

    return build


def _frozen_type(kind):
    plain, optional = _plain(kind)
    if get_origin(plain) is list:
        plain = tuple[get_args(plain)[0], ...]
    return plain | None if optional else plain
