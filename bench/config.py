"""The config schema: one typed node per config group, registered in Hydra's ConfigStore.

The YAML files under ``conf/`` hold the values (and say what they mean); these dataclasses say which
keys exist and of which type. Hydra composes the YAML into them, so an unknown key (a typo, or
``+pooling.layer=[-2]``) and a value of the wrong type (``encode.batch_size=2.5``) are refused while
the command line is read, before any work (:mod:`bench.launch.cli` turns Hydra's message into one line with
the valid keys and a "did you mean"). Fields without a default must be set by the YAML; defaults here
exist only for keys a YAML file may leave out, and no code repeats them.
"""

from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

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


def conf_values(group: str, name: str) -> dict:
    """The values one YAML file of a group sets (a ``@package _global_`` file: its block for the group),
    without its defaults list. Code that needs a group's defaults outside Hydra (a partial config written
    in Python) reads them here instead of repeating them."""
    from omegaconf import DictConfig, OmegaConf

    values = OmegaConf.load(CONF_DIR / group / f"{name}.yaml")
    values.pop("defaults", None)
    if isinstance(values.get(group), DictConfig):  # a @package _global_ file (conf/model/hf.yaml)
        values = values[group]
    # interpolations of the default paths (``${paths.models}``) resolve as in a composed config
    root = OmegaConf.create({"paths": OmegaConf.load(CONF_DIR / "paths" / "default.yaml"), "values": values})
    return OmegaConf.to_container(root, resolve=True)["values"]


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


@dataclass
class RecipeConfig:
    name: str = MISSING
    loss: str = MISSING
    tasks: list[str] = MISSING
    select_on: list[str] = MISSING
    epochs: float = MISSING
    batch_size: int = MISSING
    learning_rate: float = MISSING
    warmup_ratio: float = MISSING
    weight_decay: float = MISSING
    eval_steps: int = MISSING
    max_steps: int = MISSING
    seed: int = MISSING
    pooling: str = MISSING
    matryoshka: list[int] = MISSING
    length_grouped: bool = MISSING
    precision: str = MISSING
    output_dir: str = MISSING
    resume: bool = MISSING
    save_total_limit: int = MISSING
    max_train_pairs: int | None = MISSING
    evaluate_after: bool = MISSING
    evaluate_base: bool = MISSING
    evaluate_tasks: list[str] | None = MISSING
    keep: str = MISSING
    objectives: list[Any] = MISSING
    stages: list[Any] = MISSING
    text_file: str | None = MISSING
    mlm_probability: float = MISSING


@dataclass
class CrossConfig:
    name: str = MISSING
    head: str = MISSING
    tasks: list[str] | None = MISSING
    epochs: float = MISSING
    batch_size: int = MISSING
    learning_rate: float = MISSING
    warmup_ratio: float = MISSING
    weight_decay: float = MISSING
    max_steps: int = MISSING
    eval_steps: int = MISSING
    max_length: int = MISSING
    seed: int = MISSING
    precision: str = MISSING
    output_dir: str = MISSING
    max_train_pairs: int | None = MISSING
    keep: str = MISSING


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
    task: Any = MISSING  # one task or a suite (tasks: {...}); checked by bench.tasks.spec
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
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("bench_launch"):
        OmegaConf.register_new_resolver("bench_launch", launch_stamp, use_cache=True)


register_resolvers()


def _schema(path: str):
    """The dataclass that types a config node (``""`` is the root), or None for untyped nodes."""
    node = RunConfig
    for part in [p for p in path.split(".") if p]:
        hints = {f.name: f.type for f in fields(node)} if is_dataclass(node) else {}
        kind = hints.get(part)
        args = [a for a in getattr(kind, "__args__", ()) if a is not type(None)]
        node = args[0] if args and is_dataclass(args[0]) else kind
        if not is_dataclass(node):
            return None
    return node


def valid_keys(path: str) -> list[str]:
    node = _schema(path)
    return [f.name for f in fields(node)] if node is not None else []


def check_keys(cfg, path: str = "") -> None:
    """Keys that ``+key=...`` forced into a typed node are refused, with the valid keys."""
    from omegaconf import DictConfig

    from bench.errors import BenchError

    node = _schema(path)
    if node is None or not isinstance(cfg, DictConfig):
        return
    allowed = {f.name for f in fields(node)}
    for key in cfg.keys():
        full = f"{path}.{key}" if path else str(key)
        if key not in allowed and key != "hydra":
            import difflib

            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" Did you mean '{(path + '.') if path else ''}{close[0]}'?" if close else ""
            raise BenchError(f"unknown setting '{full}'.{hint} Valid keys {'under ' + path if path else 'at the top level'}"
                             f": {', '.join(sorted(allowed))}.")
        child = cfg._get_node(key)  # the node itself: no interpolation resolved, no missing value read
        if isinstance(child, DictConfig):
            check_keys(child, full)
