"""Published numbers beside bench's: MTEB's main scores of the shipped models (``published.yaml``).

A bench result is compared with a published score only when everything that shapes the number is the
same: the model and its revision, the strategy (MTEB runs the model's own pipeline: ``sbert``, no
compression), the prompt, the maximum length, and the test data (the dataset and revision MTEB used;
local files count when their task config declares them identical to that copy, ``same_as_hub``).
Otherwise the published score is shown with the reason it is not comparable, never as a difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bench.results import Result

#: A difference above this between a comparable bench result and the published score is flagged.
TOLERANCE = 1e-4
PUBLISHED = Path(__file__).resolve().parent / "published.yaml"


@dataclass(frozen=True)
class Published:
    model: str
    revision: str | None
    max_seq_length: int
    prompts: tuple[tuple[str, str], ...]
    task: str  # MTEB task name
    subset: str
    score: float
    dataset_revision: str | None
    source: str  # repository path and commit of the file the score was read from

    @property
    def label(self) -> str:
        return f"MTEB {self.model}@{(self.revision or 'external')[:7]}"


@lru_cache(maxsize=1)
def published_scores() -> tuple[Published, ...]:
    table = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    out = []
    for model in table["models"]:
        folder = model["revision"] or "external"
        for entry in model["scores"]:
            out.append(Published(
                model=model["model"], revision=model["revision"], max_seq_length=int(model["max_seq_length"]),
                prompts=tuple(sorted((model.get("prompts") or {}).items())), task=entry["task"],
                subset=entry.get("subset", "default"), score=float(entry["score"]),
                dataset_revision=entry.get("dataset_revision"),
                source=(f"{table['repository']}: results/{model['model'].replace('/', '__')}/{folder}/"
                        f"{entry['task']}.json @ {str(entry['commit'])[:8]}")))
    return tuple(out)


@dataclass(frozen=True)
class Comparison:
    published: Published
    score: float
    reasons: tuple[str, ...]  # why the numbers are not comparable; empty when they are

    @property
    def comparable(self) -> bool:
        return not self.reasons

    @property
    def delta(self) -> float | None:
        return self.score - self.published.score if self.comparable else None

    @property
    def flagged(self) -> bool:
        return self.comparable and abs(self.delta) > TOLERANCE

    def describe(self) -> str:
        if not self.comparable:
            return "not comparable: " + "; ".join(self.reasons)
        return f"Δ {self.delta:+.6f}" + (f" exceeds {TOLERANCE:g}" if self.flagged else " (matches)")


def compare(record: dict) -> Comparison | None:
    """The published score for this result's model and task, with whether it is comparable; None when
    nothing is published for them (or the result is not a zero-shot main score)."""
    result = Result.of(record)
    hub_id = result.model.get("hub_id")
    if result.kind != "zero-shot" or not hub_id:
        return None
    candidates = [p for p in published_scores() if p.model == hub_id and p.task == result.task_name
                  and p.subset == result.subset]
    if not candidates or result.main_score is None:
        return None
    revision = result.model.get("resolved_revision") or result.model.get("revision")
    candidates.sort(key=lambda p: (p.revision != revision, p.revision is None))
    best = candidates[0]
    return Comparison(best, float(result.main_score), tuple(_differences(best, result, revision)))


def _differences(published: Published, result: Result, revision: str | None) -> list[str]:
    meta, model = result.meta, result.model
    reasons = []
    if published.revision is None:
        reasons.append("published without a model revision (external submission)")
    elif revision != published.revision:
        reasons.append(f"model revision {str(revision)[:7]}, published {published.revision[:7]}")
    strategy = result.strategy
    if strategy != "sbert":
        reasons.append(f"strategy {strategy}, published with the model's own pipeline (sbert)")
    prompt = result.prompt
    wanted = dict(published.prompts).get(result.task_type or "", "")
    if prompt != wanted:
        reasons.append(f"prompt {prompt!r}, published with {wanted!r}")
    if model.get("max_seq_length") != published.max_seq_length:
        reasons.append(f"max length {model.get('max_seq_length')}, published {published.max_seq_length}")
    data = meta.get("mteb_data") or {}
    if published.dataset_revision is None:
        reasons.append("published without a dataset revision")
    elif data.get("revision") != published.dataset_revision:
        reasons.append(data.get("note") or "other test data")
    return reasons


def comparison_rows(records: list[dict]) -> list[dict]:
    """One row per result that has a published counterpart: both scores, the difference or the reason."""
    rows = []
    for record in records:
        found = compare(record)
        if found is None:
            continue
        result = Result.of(record)
        rows.append({"model": result.model_name, "strategy": result.strategy, "task": result.task,
                     "bench": found.score, "published": found.published.score, "delta": found.delta,
                     "status": ("differs" if found.flagged else "matches") if found.comparable else "not comparable",
                     "note": found.describe(), "source": found.published.source})
    return rows


def comparison_markdown(records: list[dict]) -> str:
    """The printed table of published numbers beside bench's (empty when nothing is published)."""
    rows = comparison_rows(records)
    if not rows:
        return ""
    lines = ["Published MTEB scores for the same model and task (embeddings-benchmark/results):", "",
             "| model | strategy | task | bench | published | Δ | |", "|---|---|---|---:|---:|---:|---|"]
    for row in rows:
        delta = "" if row["delta"] is None else f"{row['delta']:+.6f}"
        mark = {"matches": f"✓ within {TOLERANCE:g}", "differs": f"✗ differs by more than {TOLERANCE:g}"}.get(
            row["status"], row["note"])
        lines.append(f"| {row['model']} | {row['strategy']} | {row['task']} | {row['bench']:.6f} | "
                     f"{row['published']:.6f} | {delta} | {mark} |")
    return "\n".join(lines) + "\n"
