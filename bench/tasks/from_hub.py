"""Loading task data from the Hugging Face Hub at pinned dataset revisions.

The hub copies (PL-MTEB's and MTEB's) are what MTEB evaluates on. Each task config names the files
of each split in the dataset repository (``hub.files``, e.g. ``test.jsonl`` or ``test/{lang}.parquet``):
they are fetched with ``snapshot_download`` at the pinned revision (only the files the run needs,
into the standard Hugging Face cache; offline, from the cache alone) and read by the ``datasets``
builder of their format, as ``load_dataset`` would read the repository. PL-MTEB's pair-classification
files hold a whole split as one row of lists; that layout is flattened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bench.errors import DataError
from bench.tasks.schema import PairData
from bench.tasks.targets import TargetSpec, check_sentence, convert_targets

log = logging.getLogger(__name__)

BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class HubSource:
    """Where a task lives on the hub (see the ``hub`` block of ``conf/task/*.yaml``)."""

    path: str
    revision: str
    files: dict[str, str]  # bench split -> file in the dataset repository
    sentence1: str
    sentence2: str
    target: str
    name: str | None = None  # the dataset's config name (provenance: how load_dataset users reach it)
    labels: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    splits: dict[str, str] = field(default_factory=dict)  # bench split -> the dataset's split name

    def __post_init__(self) -> None:
        for name in self.files.values():
            if not name.endswith(tuple(BUILDERS)) and not name.endswith(tuple(f"{s}.gz" for s in BUILDERS)):
                raise DataError(f"hub file {name} of {self.path}: unknown format; valid: {', '.join(BUILDERS)}.")


def _flatten_single_row(column: list) -> list:
    """MTEB's older pair-classification datasets store a whole split as one row of lists."""
    if len(column) == 1 and isinstance(column[0], list):
        return column[0]
    return column


def _builder(filename: str) -> str:
    return BUILDERS["." + filename.removesuffix(".gz").rsplit(".", 1)[-1]]


def fetch_split_file(source: HubSource, split: str, *, task: str) -> str:
    """The local path of a split's file, fetched at the pinned revision (from the cache when offline)."""
    from bench.errors import BenchError
    from bench.hub import fetch_snapshot

    if split not in source.files:
        raise DataError(
            f"task '{task}': the hub source {source.path} has no '{split}' split "
            f"(it has: {', '.join(source.files)}). Point data.root at the original files to use it."
        )
    filename = source.files[split]
    try:
        snapshot = fetch_snapshot(source.path, source.revision, repo_type="dataset", allow_patterns=[filename],
                                  what=f"task '{task}' data,")
    except BenchError as exc:
        raise DataError(f"{str(exc).rstrip('.')}; or use the original files: data.root=DIR (or export "
                        f"BENCH_DATA_ROOT=DIR).") from None
    local = snapshot / filename
    if not local.is_file():
        from bench.hub import hub_reachable

        where = ("the Hugging Face cache lacks it and the Hub is not used (offline)" if not hub_reachable()
                 else "the repository has no such file at that revision; check hub.files in conf/task")
        raise DataError(f"task '{task}': no file {filename} (the {split} split) of {source.path}@"
                        f"{source.revision[:12]}: {where}; or use data.root=DIR with the original files.")
    return str(local)


def load_hub_split(source: HubSource, split: str, target: TargetSpec, *, task: str) -> PairData:
    local = fetch_split_file(source, split, task=task)
    import datasets  # imported lazily: it is slow to import and not needed for local data

    filename = source.files[split]
    try:
        table = datasets.load_dataset(_builder(filename), data_files={"split": local}, split="split")
    except Exception as exc:  # a damaged or foreign file
        raise DataError(f"task '{task}': cannot read {filename} of {source.path}@{source.revision[:12]}: "
                        f"{exc.__class__.__name__}: {exc}") from None
    missing = [c for c in (source.sentence1, source.sentence2, source.target) if c not in table.column_names]
    if missing:
        raise DataError(f"task '{task}': {filename} of {source.path} lacks columns {missing}; it has {table.column_names}.")
    s1 = _flatten_single_row(table[source.sentence1])
    s2 = _flatten_single_row(table[source.sentence2])
    raw = _flatten_single_row(table[source.target])
    if not len(s1) == len(s2) == len(raw):
        raise DataError(f"task '{task}': {filename} of {source.path} has columns of different lengths "
                        f"({len(s1)}, {len(s2)}, {len(raw)}).")
    where = f"{source.path}@{source.revision[:12]}/{filename} row"
    wheres = [f"{where} {i + 1}" for i in range(len(raw))]
    hub_target = target
    if target.kind == "label" and source.labels:
        hub_target = TargetSpec("label", labels=source.labels, positive=source.positive)
    s1 = [check_sentence(t, w, "sentence1") for t, w in zip(s1, wheres)]
    s2 = [check_sentence(t, w, "sentence2") for t, w in zip(s2, wheres)]
    targets = convert_targets(raw, hub_target, wheres)
    raw_labels = [str(r) for r in raw] if target.kind == "label" else []
    provenance = {
        "kind": "hub",
        "path": source.path,
        "name": source.name,
        "file": filename,
        "split": source.splits.get(split, split),
        "revision": source.revision,
        "rows": len(targets),
    }
    return PairData(list(s1), list(s2), targets, raw_labels, provenance)


def hub_source_from_config(cfg: dict, **fields: str) -> HubSource:
    name = cfg.get("name")
    files = cfg.get("files")
    if not files:
        raise DataError(f"the hub block of {cfg.get('path')} needs `files` (split -> file in the repository).")
    return HubSource(
        path=cfg["path"],
        revision=cfg["revision"],
        files={split: str(f).format(**fields) for split, f in files.items()},
        sentence1=cfg["sentence1"],
        sentence2=cfg["sentence2"],
        target=cfg["target"],
        name=name.format(**fields) if isinstance(name, str) else None,
        labels=tuple(str(x) for x in cfg.get("labels") or ()),
        positive=tuple(str(x) for x in cfg.get("positive") or ()),
        splits=dict(cfg.get("splits") or {}),
    )
