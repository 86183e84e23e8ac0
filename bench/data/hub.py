"""Loading task data from the Hugging Face Hub at pinned dataset revisions.

The hub copies (PL-MTEB's and MTEB's) are what MTEB evaluates on; they hold the test split (and,
for STSb-multi-MT, train and dev too). Splits a hub source lacks are reported as such: run those
stages with ``data.root`` pointing at the original files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bench.data.schema import PairData
from bench.data.targets import TargetSpec, check_sentence, convert_targets
from bench.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSource:
    """Where a task lives on the hub (see the ``hub`` block of ``conf/task/*.yaml``)."""

    path: str
    revision: str
    splits: dict[str, str]
    sentence1: str
    sentence2: str
    target: str
    name: str | None = None
    labels: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()


def _flatten_single_row(column: list) -> list:
    """MTEB's older pair-classification datasets store a whole split as one row of lists."""
    if len(column) == 1 and isinstance(column[0], list):
        return column[0]
    return column


def load_hub_split(source: HubSource, split: str, target: TargetSpec, *, task: str) -> PairData:
    if split not in source.splits:
        raise DataError(
            f"task '{task}': the hub source {source.path} has no '{split}' split "
            f"(it has: {', '.join(source.splits)}). Point data.root at the original files to use it."
        )
    import datasets  # imported lazily: it is slow to import and not needed for local data

    hub_split = source.splits[split]
    try:
        table = datasets.load_dataset(source.path, source.name, split=hub_split, revision=source.revision)
    except Exception as exc:  # network, auth, missing revision: all user-fixable
        raise DataError(
            f"task '{task}': could not load {source.path} (config {source.name}, split {hub_split}, "
            f"revision {source.revision}) from the Hugging Face Hub: {exc}. "
            f"Offline? Use data.root=DIR with the original files."
        ) from None
    missing = [c for c in (source.sentence1, source.sentence2, source.target) if c not in table.column_names]
    if missing:
        raise DataError(f"task '{task}': hub dataset {source.path} lacks columns {missing}; it has {table.column_names}.")
    s1 = _flatten_single_row(table[source.sentence1])
    s2 = _flatten_single_row(table[source.sentence2])
    raw = _flatten_single_row(table[source.target])
    where = f"{source.path}@{source.revision[:12]}[{hub_split}] row"
    wheres = [f"{where} {i}" for i in range(len(raw))]
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
        "split": hub_split,
        "revision": source.revision,
        "rows": len(targets),
    }
    return PairData(list(s1), list(s2), targets, raw_labels, provenance)


def hub_source_from_config(cfg: dict, **fields: str) -> HubSource:
    name = cfg.get("name")
    return HubSource(
        path=cfg["path"],
        revision=cfg["revision"],
        splits=dict(cfg["splits"]),
        sentence1=cfg["sentence1"],
        sentence2=cfg["sentence2"],
        target=cfg["target"],
        name=name.format(**fields) if isinstance(name, str) else None,
        labels=tuple(str(x) for x in cfg.get("labels") or ()),
        positive=tuple(str(x) for x in cfg.get("positive") or ()),
    )
