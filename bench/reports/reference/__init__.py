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

from bench.results.record import Result, ResultKind

#: A difference above this between a comparable bench result and the published score is flagged.
TOLERANCE = 1e-4
PUBLISHED = Path(__file__).resolve().parent / "published.yaml"


#: A published score this far below the same file's score in another language is flagged (a broken run, e.g.
#: Qwen3-Embedding-0.6B's STSb: pl 37.47, en 65.18, pt 84.12).
LANGUAGE_GAP = 0.15
#: A published score this far above every other model's in the table (models trained on the task aside) is flagged.
LEAD = 0.04


@dataclass(frozen=True)
class Published:
    model: str
    revision: str | None
    max_seq_length: int | None
    prompts: tuple[tuple[str, str], ...] | None  # None: the published run's prompt is not recorded
    task: str  # MTEB task name
    subset: str
    score: float
    dataset_revision: str | None
    source: str  # repository path and commit of the file the score was read from
    other_subsets: tuple[tuple[str, float], ...] = ()  # the same file's scores in other languages
    trained_on: tuple[str, ...] = ()  # MTEB tasks among the model's declared training data

    @property
    def label(self) -> str:
        return f"MTEB {self.model}@{(self.revision or 'external')[:7]}"


@lru_cache(maxsize=1)
def published_scores() -> tuple[Published, ...]:
    table = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    out = []
    for model in table["models"]:
        folder = model["revision"] or "external"
        prompts = model.get("prompts", {})
        for entry in model["scores"]:
            out.append(Published(
                model=model["model"], revision=model["revision"],
                max_seq_length=None if model["max_seq_length"] is None else int(model["max_seq_length"]),
                prompts=None if prompts is None else tuple(sorted(prompts.items())), task=entry["task"],
                subset=entry.get("subset", "default"), score=float(entry["score"]),
                dataset_revision=entry.get("dataset_revision"),
                source=(f"{table['repository']}: results/{model['model'].replace('/', '__')}/{folder}/"
                        f"{entry['task']}.json @ {str(entry['commit'])[:8]}"),
                other_subsets=tuple(sorted((entry.get("other_subsets") or {}).items())),
                trained_on=tuple(model.get("trained_on") or ())))
    return tuple(out)


@lru_cache(maxsize=1)
def translated_from() -> dict[str, tuple[str, ...]]:
    """Polish tasks that are translations, and the MTEB tasks of their originals."""
    table = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8"))
    return {task: tuple(sources) for task, sources in (table.get("translated_from") or {}).items()}


def trained_on_task(published: Published) -> list[str]:
    """The model's declared training data that is this task or the original it was translated from."""
    return [t for t in published.trained_on if t in (published.task, *translated_from().get(published.task, ()))]


def implausible(published: Published, table: tuple[Published, ...] | None = None) -> tuple[str, ...]:
    """Why a published number should not be trusted as a zero-shot result, if it should not: far below the
    same run's other languages (a broken run), training data that holds the task (not zero-shot), or far
    above every zero-shot model in the table."""
    table = published_scores() if table is None else table
    flags = []
    best_other = max(published.other_subsets, key=lambda item: item[1], default=None)
    if best_other is not None and published.score < best_other[1] - LANGUAGE_GAP:
        others = ", ".join(f"{lang} {score * 100:.2f}" for lang, score in published.other_subsets)
        flags.append(f"{published.subset} {published.score * 100:.2f} against {others} in the same run: "
                     f"far below its other languages, likely a broken run")
    seen = trained_on_task(published)
    if seen:
        via = "" if seen == [published.task] else f" (the original of {published.task}, which is a translation)"
        flags.append(f"declared training data includes {', '.join(seen)}{via}: not a zero-shot score")
    rivals = [p.score for p in table if p.model != published.model and p.task == published.task
              and p.subset == published.subset and not trained_on_task(p)]
    if rivals and published.score > max(rivals) + LEAD:
        flags.append(f"{(published.score - max(rivals)) * 100:.1f} points above every zero-shot model in this table")
    return tuple(flags)


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
    if result.kind is not ResultKind.ZERO_SHOT or not hub_id:
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
    if published.prompts is None:
        reasons.append("the published run's prompt is not recorded")
    else:
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
                     "note": found.describe(), "source": found.published.source,
                     "implausible": implausible(found.published)})
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
        mark += "".join(f"; ⚠ published number: {flag}" for flag in row["implausible"])
        lines.append(f"| {row['model']} | {row['strategy']} | {row['task']} | {row['bench']:.6f} | "
                     f"{row['published']:.6f} | {delta} | {mark} |")
    return "\n".join(lines) + "\n"


def published_markdown() -> str:
    """The whole published table, each number with its source and any reason not to trust it as zero-shot."""
    lines = ["| model | revision | task | published | flags | source |", "|---|---|---|---:|---|---|"]
    for p in published_scores():
        task = p.task if p.subset == "default" else f"{p.task} ({p.subset})"
        flags = "; ".join(f"⚠ {flag}" for flag in implausible(p))
        lines.append(f"| {p.model} | {(p.revision or 'external')[:7]} | {task} | {p.score * 100:.2f} | {flags} | "
                     f"{p.source} |")
    return "\n".join(lines) + "\n"
