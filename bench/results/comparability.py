"""When two numbers may be compared: the one rule every place numbers meet uses.

Two main scores are comparable when they were computed on the same test pairs (a digest of the scored
pairs' content: both sentences and the target each pair is scored against, so a label definition that
differs is other data, and identical data read from two sources still matches) by the same metric. The
leaderboard ranks only comparable rows together, the gate refuses a baseline that is not comparable,
compare refuses, the cross-encoder table pairs only comparable rows, and export and curves group by it.

Results written before the content digest existed are identified by their test file instead (its SHA-256,
or the hub file at its revision): comparable with each other when the file is the same, and, being
unprovable, never with a result on other files.

Published MTEB numbers (``bench-leaderboard --published``) record no digest of their pairs, only the MTEB
dataset revision they were scored on: they are judged by the same :class:`Basis`, with that revision as their
data (:func:`published_basis`), against a run's ``mteb_data`` revision (its pairs are that hub copy's: read
from it, or a local file its task declares identical) or else its own test data, which no published number
is known to be on (:func:`published_data_basis`); and, for a model also run here, by its model revision
(:func:`published_reasons`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.digests import digest_json
from bench.tasks.schema import PairData


def content_digest(part: PairData) -> str:
    """SHA-256 of a split's scored content: each pair's two sentences and its target (the gold score, or the
    0/1 label after the task's positive-label definition), in order."""
    rows = [[a, b, float(t)] for a, b, t in zip(part.sentence1, part.sentence2, part.targets.tolist())]
    return digest_json(rows)


def source_label(source: dict, full: bool = False) -> str:
    """Where a split was read from, as a person reads it: ``hub copy PL-MTEB/cdscr-sts@1cd6abb`` or
    ``cdscorpus/CDS_test_annotated.txt sha256 fd5607ca2d8f``; ``full``: for messages that send the reader to the
    file (the whole path, or the hub file at its revision)."""
    hub = source.get("kind") == "hub" or (source.get("path") and source.get("revision") and not source.get("sha256"))
    if full:
        return (f"{source.get('path')}@{str(source.get('revision') or '')[:12]}/{source.get('file')}" if hub
                else str(source.get("path") or "?"))
    if hub:
        return f"hub copy {source.get('path')}@{str(source.get('revision') or '')[:7]}"
    name = "/".join(Path(str(source.get("path") or "?")).parts[-2:])
    return f"{name} sha256 {str(source.get('sha256') or '')[:12]}".strip()


def test_data_block(part: PairData) -> dict:
    """What a result records about the pairs it was scored on (``bench.test_data``)."""
    return {"digest": content_digest(part), "pairs": len(part), "source": source_label(part.source)}


@dataclass(frozen=True)
class Basis:
    """What a main score was computed on: its task's test pairs (``data``, a content digest or, for older
    results, the test file's id), shown as ``label``, and its metric."""

    task: str
    data: str
    label: str
    metric: str

    def differences(self, other: Basis) -> list[str]:
        """What makes ``self`` and ``other`` incomparable, as a person reads it (empty: comparable)."""
        out = []
        if self.task != other.task:
            out.append(f"task: {self.task} vs {other.task}")
        if self.data != other.data:
            if self.label != other.label:
                out.append(f"data: {self.label} vs {other.label}")
            else:
                out.append(f"data: other pairs or labels from {self.label} "
                           f"(content {self.data.removeprefix('content:')[:12]} vs {other.data.removeprefix('content:')[:12]})")
        if self.metric != other.metric:
            out.append(f"metric: {self.metric} vs {other.metric}")
        return out

    def comparable(self, other: Basis) -> bool:
        return not self.differences(other)

    @property
    def key(self) -> str:
        return f"{self.task}|{self.data}|{self.metric}"


def basis_of(meta: dict, *, task: str, metric: str, eval_split: str | None = None) -> Basis:
    """The basis of a result from its ``bench`` block (``task``: the suite task whose test pairs were scored)."""
    test = meta.get("test_data") or {}
    if test.get("digest"):
        return Basis(task, f"content:{test['digest']}", str(test.get("source") or "?"), metric)
    data = (meta.get("settings") or {}).get("data") or {}
    split = eval_split or (meta.get("task_config") or {}).get("eval_split") or "test"
    file_id = str(data.get(split) or next(iter(data.values()), "") or "unknown")
    sources = meta.get("data") or {}
    label = source_label(sources[split]) if isinstance(sources.get(split), dict) else file_id
    return Basis(task, f"file:{file_id}", label, metric)


def reference_bases(bases: list[Basis], preferred: frozenset[str] = frozenset()) -> dict[str, Basis]:
    """Each task's reference basis, the one its ranking uses: the data and metric most of the task's results
    were scored on; a tie goes to a basis in ``preferred`` (keys, e.g. the data of published numbers), then to
    the smaller key, so the choice never depends on the order results are read in."""
    counts: dict[str, dict[str, int]] = {}
    found: dict[str, Basis] = {}
    for basis in bases:
        per_task = counts.setdefault(basis.task, {})
        per_task[basis.key] = per_task.get(basis.key, 0) + 1
        found.setdefault(basis.key, basis)
    return {task: found[sorted(per_task, key=lambda k: (-per_task[k], k not in preferred, k))[0]]
            for task, per_task in counts.items()}


def panels_by_data(frame, task: str = "task", key: str = "data_key", label: str = "data_label"):
    """A frame of points (curves, plots) whose ``task`` names a task's panel: a task whose points were scored on
    several test data gets one panel per data, named with it, so points on other data never share a line."""
    several = frame.groupby(task)[key].transform("nunique") > 1
    out = frame.copy()
    out.loc[several, task] = out.loc[several, task] + " [" + out.loc[several, label] + "]"
    return out


def published_basis(task: str, dataset_revision: str | None, metric: str | None, dataset: str | None = None) -> Basis:
    """The basis of a published MTEB number: the MTEB dataset at the revision it was scored on (all an MTEB
    result file records of its data) and its main metric; a number published without a dataset revision is on
    data nothing can be shown to match."""
    if not dataset_revision:
        return Basis(task, "mteb:unpublished", "no dataset revision published", str(metric or "unknown"))
    return Basis(task, f"mteb:{dataset_revision}", f"{dataset or 'MTEB dataset'}@{str(dataset_revision)[:7]}",
                 str(metric or "unknown"))


def published_data_basis(meta: dict, *, task: str, metric: str, eval_split: str | None = None) -> Basis:
    """A bench result's basis against published numbers: the MTEB dataset revision its test pairs are
    (``mteb_data``), else its own test data (:func:`basis_of`, with bench's note on why it is not the published
    copy), which no published number is known to be on."""
    data = meta.get("mteb_data") or {}
    if data.get("revision"):
        return published_basis(task, data["revision"], metric, data.get("dataset"))
    own = basis_of(meta, task=task, metric=metric, eval_split=eval_split)
    note = data.get("note")
    return Basis(task, own.data, f"{own.label} ({note})" if note else own.label, metric)


def published_reasons(published: Basis, reference: Basis, revision: str | None,
                      revisions_here: set[str] = frozenset()) -> list[str]:
    """Why a published number is not ranked with the runs here (empty: it is): its data and metric against
    the task's reference basis (:meth:`Basis.differences`), and, for a model also run here, its model revision
    (another revision is another model)."""
    reasons = published.differences(reference)
    here = sorted(str(r) for r in revisions_here)
    if here and str(revision) not in here:
        reasons.append(f"model revision {str(revision)[:7]}, run here at {', '.join(r[:7] for r in here)}")
    return reasons
