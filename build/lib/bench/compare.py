"""Is one result significantly better than another on the same task?

    python -m bench.compare RESULT_A.json RESULT_B.json [--resamples 10000] [--seed 0]

Paired bootstrap over the test pairs (both results must come from the same test data): prints the
difference in main score (A - B), its 95% interval and a two-sided p-value, as a Markdown table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.commands import command_parser
from bench.errors import BenchError, user_errors_exit_2
from bench.leaderboard.significance import paired_from_files
from bench.results import Result, pairs_path, read_result
from bench.stats import format_p, signed


def compare(path_a: Path, path_b: Path, *, resamples: int = 10000, seed: int = 0) -> dict:
    a, b = (Result.of(read_result(path), path) for path in (path_a, path_b))
    if a.task != b.task:
        raise BenchError(f"the results are for different tasks ({a.task} vs {b.task}).")
    if a.dataset_revision != b.dataset_revision:
        raise BenchError("the results were computed on different test data (dataset_revision differs).")
    if a.task_type is None:
        raise BenchError(f"{path_a} does not say its task type (bench.task_config.type); it was not written by bench.")
    out = paired_from_files(a.task_type, pairs_path(path_a), pairs_path(path_b), resamples=resamples, seed=seed)
    return {**out, "task": a.task, "metric": a.main_score_name}


def to_markdown(result: dict, name_a: str, name_b: str) -> str:
    significant = "yes" if result["p_value"] < 1 - result["level"] else "no"
    return (f"| task | metric | A | B | A - B | {result['level']:.0%} interval | p | significant |\n"
            f"|---|---|---:|---:|---:|---|---:|---|\n"
            f"| {result['task']} | {result['metric']} | {result['a']:.4f} | {result['b']:.4f} | "
            f"{signed(result['difference'], 4)} | [{signed(result['low'], 4)}, {signed(result['high'], 4)}] | "
            f"{format_p(result['p_value'], result.get('resamples')).removeprefix('p=')} | {significant} |\n\n"
            f"A = {name_a}\nB = {name_b}\n")


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("python -m bench.compare", __doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = compare(args.a, args.b, resamples=args.resamples, seed=args.seed)
    print(to_markdown(result, str(args.a), str(args.b)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
