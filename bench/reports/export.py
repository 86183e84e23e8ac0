"""Export results into MTEB's results-folder layout, so MTEB's tools can load them.

    bench-export --results results --out mteb-results
    python -c "import mteb; print(mteb.ResultCache('mteb-results').load_results(include_remote=False))"

Layout (as in the embeddings-benchmark/results repository):
``OUT/results/<org>__<name>/<revision>/<TaskName>.json`` plus ``model_meta.json``, for each model's
default strategy with its usual settings. Every other strategy (and settings variant) is exported as a
model of its own, named ``<org>/<name>-bench-<strategy>`` (``...-settings-<id>`` for a variant), so
MTEB loads one result per task and model revision and its users can tell the strategies apart; each
``model_meta.json`` names the base model and the strategy. ``dataset_revision`` is the hub revision
where the test data is MTEB's (a hub copy, or an original file declared identical to it), else the
file's SHA-256. Only zero-shot results on MTEB tasks are exported (probes are not MTEB tasks); bench's
extra block is dropped, and bench-only keys inside the scores (intervals, held-out thresholds) are
kept, since MTEB ignores keys it does not know.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from bench.atomic import write_json_atomic
from bench.commands import command_parser
from bench.errors import BenchError, user_errors_exit_2
from bench.results.record import ResultKind
from bench.results.store import ResultsStore

log = logging.getLogger(__name__)

MTEB_KEYS = ("dataset_revision", "task_name", "mteb_version", "scores", "evaluation_time")


def model_name(model: dict, strategy: str, default: str | None, variant: str, settings: str) -> str:
    """The model name MTEB sees: the hub id (or name) for the default strategy with its usual settings,
    ``<name>-bench-<strategy>[-settings-<id>]`` for everything else."""
    name = str(model.get("hub_id") or model["name"])  # a local model (no hub id) by its name, not its path
    if strategy != default:
        name += f"-bench-{strategy}"
    if variant:
        name += f"-settings-{settings}"
    return name


def export(results_dir: str | Path, out_dir: str | Path, strategy: str | None = None) -> list[Path]:
    """Write the MTEB layout; returns the task files written."""
    from bench.reports.leaderboard.entries import entries_frame

    out = Path(out_dir) / "results"
    results = ResultsStore(results_dir).results()
    entries = entries_frame(results)
    variants = dict(zip(entries["path"], entries["variant"])) if not entries.empty else {}
    files: dict[Path, dict] = {}
    metas: dict[Path, dict] = {}
    for path, result in results:
        if result.kind is not ResultKind.ZERO_SHOT or not result.task_name:
            continue
        model = result.model
        revision = result.revision or "no_revision_available"
        default = strategy or model.get("default_pooling")  # unknown: every strategy is bench's own model
        name = model_name(model, result.strategy, default, variants.get(str(path), ""), result.settings_id)
        target = out / name.replace("/", "__") / revision
        payload = {key: result.get(key) for key in MTEB_KEYS}
        payload["evaluation_time"] = payload["evaluation_time"] or 0.0
        published = (result.meta.get("mteb_data") or {}).get("revision")
        if published:
            payload["dataset_revision"] = published
        merge_into(files, target / f"{result.task_name}.json", payload)
        metas[target / "model_meta.json"] = {
            "name": name, "revision": revision,
            "bench": {"base_model": model.get("hub_id") or result.model_name, "strategy": result.strategy,
                      "settings": result.settings, "model": result.model_name, "source": model.get("source")},
        }
        log.debug("%s -> %s", path, target)
    if not files:
        raise BenchError(f"no zero-shot results under {results_dir} to export.")
    for target, payload in {**files, **metas}.items():
        write_json_atomic(target, payload)
    return sorted(files)


def merge_into(files: dict[Path, dict], target: Path, payload: dict) -> None:
    """One MTEB file per task: subsets of one task (e.g. STSb languages) become entries of its score lists."""
    if target not in files:
        files[target] = payload
        return
    merged = files[target]
    for split, entries in payload["scores"].items():
        kept = [e for e in merged["scores"].get(split, []) if e["hf_subset"] not in {x["hf_subset"] for x in entries}]
        merged["scores"][split] = kept + entries
    merged["evaluation_time"] += payload["evaluation_time"]


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("bench-export", __doc__, results=True)
    parser.add_argument("--out", required=True, help="folder for the MTEB layout")
    parser.add_argument("--strategy", default=None,
                        help="strategy exported as the model's main result (default: each model's default pooling)")
    args = parser.parse_args(argv)
    written = export(args.results, args.out, args.strategy)
    print(f"wrote {len(written)} result files under {Path(args.out) / 'results'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
