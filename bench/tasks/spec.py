"""Tasks are data: each ``conf/task/*.yaml`` describes one dataset and how it is scored (its keys:
:class:`bench.config.TaskConfig`).

:class:`TaskSpec` is the typed view of such a config; :func:`task_specs` turns the composed
``task`` node (one task, or a suite with ``tasks:``) into specs; :func:`load_task` reads every
split the task declares, from local files when ``data.root`` is set, else from the hub.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.config import TaskConfig, check_keys, with_defaults
from bench.errors import BenchError, DataError, unknown_choice
from bench.scoring import SCORERS
from bench.tasks.from_files import FileFormat, format_from_config, read_split, relative_paths
from bench.tasks.from_hub import HubSource, hub_source_from_config, load_hub_split
from bench.tasks.schema import PairData
from bench.tasks.targets import TargetSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    mteb_name: str
    type: str
    lang: str
    languages: dict[str, str]
    target: TargetSpec
    local_files: dict[str, str]  # empty for a task whose data exists only as a hub copy (hub-only)
    local_format: FileFormat | None
    hub: HubSource
    splits: tuple[str, ...]
    eval_split: str
    rows: dict[str, int]
    description: str
    #: SHA-256 of original files (by split) whose content is the hub copy's at hub.revision, so that their
    #: results are compared with numbers published on that copy (bench.reports.reference).
    same_as_hub: dict[str, str]
    differs_from_hub: str  # why the original files are not the hub copy's data, when that is known
    heldout_split: str = "validation"  # where pair classification picks its held-out thresholds (not a setting)

    def __post_init__(self) -> None:
        if self.type not in SCORERS:
            raise unknown_choice("task type", self.type, SCORERS)
        if self.lang not in self.languages:
            raise BenchError(
                f"task '{self.name}' has no language '{self.lang}'; valid: {', '.join(sorted(self.languages))}."
            )
        if self.eval_split not in self.splits:
            raise BenchError(f"task '{self.name}': eval_split '{self.eval_split}' is not among {self.splits}.")

    @property
    def result_name(self) -> str:
        """Name used for result files and tables: the task name, with the language when it varies."""
        return self.name if len(self.languages) == 1 else f"{self.name}.{self.lang}"

    @property
    def language_code(self) -> str:
        return self.languages[self.lang]

    @property
    def hub_only(self) -> bool:
        """No original files are configured: the task is read from its hub copy even when data.root is set."""
        return not self.local_files

    def data_root(self, root: str | Path | None) -> str | Path | None:
        """Where this task's data is read from: ``root`` (original files), or None (the hub)."""
        return None if self.hub_only else root

    def available_splits(self, root: str | Path | None) -> tuple[str, ...]:
        """The declared splits this task's data source has (a hub copy may lack some, e.g. validation)."""
        if self.data_root(root) is not None:
            return self.splits
        return tuple(s for s in self.splits if s in self.hub.files)


def spec_from_config(cfg: DictConfig | dict) -> TaskSpec:
    """A task's config (keys checked against :class:`bench.config.TaskConfig`, whose defaults fill what it leaves
    out) as a spec."""
    node = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    check_keys(node, "task")
    c = with_defaults(TaskConfig, OmegaConf.to_container(node, resolve=True))
    try:
        target_cfg = c["target"]
        target = TargetSpec(
            kind=target_cfg["kind"],
            score_range=tuple(target_cfg["score_range"]) if target_cfg["score_range"] else None,
            labels=tuple(str(x) for x in target_cfg["labels"] or ()),
            positive=tuple(str(x) for x in target_cfg["positive"] or ()),
        )
        lang = str(c["lang"])
        return TaskSpec(
            name=c["name"],
            mteb_name=c["mteb_name"] or c["name"],
            type=c["type"],
            lang=lang,
            languages=dict(c["languages"]),
            target=target,
            local_files=relative_paths(c["local"]["files"], lang=lang) if c["local"] else {},
            local_format=format_from_config(c["local"]) if c["local"] else None,
            hub=hub_source_from_config(c["hub"], lang=lang),
            splits=tuple(c["splits"]),
            eval_split=c["eval_split"],
            rows={str(k): int(v) for k, v in (c["rows"] or {}).items()},
            description=c["description"] or "",
            same_as_hub={str(k): str(v) for k, v in (c["same_as_hub"] or {}).items()},
            differs_from_hub=str(c["differs_from_hub"] or ""),
        )
    except KeyError as exc:
        raise BenchError(f"task config '{c.get('name', '?')}' lacks the key {exc}.") from None


@lru_cache(maxsize=8)
def suite_members(name: str) -> tuple[str, ...]:
    """The result names of a suite config (``conf/task/<name>.yaml``), e.g. the six of ``polish``."""
    from bench.config import compose_config

    cfg = compose_config([f"task={name}"])
    return tuple(spec.result_name for spec in task_specs(cfg.task))


def task_specs(task_cfg: DictConfig) -> list[TaskSpec]:
    """One spec for a single-task config, or one per member for a suite (a config with ``tasks:``)."""
    check_keys(task_cfg, "task")  # a suite's own keys, and its members' with their names
    if "tasks" in task_cfg:
        return [spec_from_config(member) for member in task_cfg.tasks.values()]
    return [spec_from_config(task_cfg)]


def mteb_data(spec: TaskSpec, split: PairData) -> dict:
    """Which published test data a split is: the hub copy MTEB evaluates on (read from the hub, or a local
    file declared identical to it), or none."""
    source = split.source
    if source.get("kind") == "hub":
        return {"dataset": source["path"], "revision": source["revision"], "via": "hub"}
    if source.get("sha256") and spec.same_as_hub.get(spec.eval_split) == source["sha256"]:
        return {"dataset": spec.hub.path, "revision": spec.hub.revision, "via": "local file with the same content"}
    return {"dataset": None, "revision": None,
            "note": spec.differs_from_hub or f"local test file {Path(source.get('path', '?')).name} is not known to "
                                             f"equal {spec.hub.path}@{spec.hub.revision[:7]} (the published data)"}


def check_row_count(spec: TaskSpec, split: str, data: PairData) -> None:
    """The original files have known sizes; a different count means a wrong file or a parsing problem."""
    expected = spec.rows.get(split)
    if expected is not None and len(data) != expected:
        raise DataError(
            f"task '{spec.name}': {data.source.get('path')} has {len(data)} rows for split '{split}', "
            f"expected {expected}. Is it the right file, and is quoting='{spec.local_format.quoting}' right for it?"
        )


def load_task(spec: TaskSpec, root: str | Path | None, splits: tuple[str, ...] | None = None,
              check_rows: bool = True) -> dict[str, PairData]:
    """Read and validate the requested splits.

    By default: every split the task declares from local files, or every split the hub source has.
    """
    if root is not None and spec.hub_only:
        log.info("%s: read from its hub copy %s (the task has no original files for data.root)",
                 spec.result_name, spec.hub.path)
    root = spec.data_root(root)
    wanted = splits or spec.available_splits(root)
    unknown = [s for s in wanted if s not in spec.splits]
    if unknown:
        raise DataError(f"task '{spec.name}' has no split(s) {unknown}; it has {list(spec.splits)}.")
    out: dict[str, PairData] = {}
    for split in wanted:
        if root is not None:
            if split not in spec.local_files:
                raise DataError(f"task '{spec.name}' declares no local file for split '{split}'.")
            out[split] = read_split(Path(root), spec.local_files[split], spec.local_format, spec.target,
                                    task=spec.name, split=split)
            if check_rows:
                check_row_count(spec, split, out[split])
        else:
            out[split] = load_hub_split(spec.hub, split, spec.target, task=spec.name)
        log.info("%s/%s: %d pairs", spec.result_name, split, len(out[split]))
    return out
