"""``bench-leaderboard [--results results] [--out DIR] [--resamples 1000] [--level 0.95] [--published DIR]``

Rebuild leaderboard.md, leaderboard.csv, leaderboard_entries.csv and leaderboard.html from every
result under the results folder (runs do this automatically; use it after copying results in, or
to change the bootstrap settings of the significance marks). ``--published DIR`` (a clone of MTEB's
results repository or an mteb results cache) instead ranks your runs beside the published results of the
same tasks, in leaderboard_published.md and .csv (:mod:`bench.reports.leaderboard.published`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from bench.commands import command_parser
from bench.errors import user_errors_exit_2
from bench.reports.leaderboard import write_leaderboard


@user_errors_exit_2
def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("bench-leaderboard", __doc__, results=True)
    parser.add_argument("--out", default=None, help="where to write (default: the results folder)")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="paired bootstrap resamples for the significance marks (0: no marks)")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--title", default="bench leaderboard")
    parser.add_argument("--published", default=None, metavar="DIR",
                        help="MTEB result files (any format) to rank your runs beside, marked as not run here")
    args = parser.parse_args(argv)
    if args.resamples < 0 or not 0 < args.level < 1:
        parser.error("--resamples must be >= 0 and --level between 0 and 1")
    if not Path(args.results).is_dir():
        parser.error(f"results folder {args.results} does not exist (run python -m bench first, or pass --results)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.published is not None:
        return published(args)
    paths = write_leaderboard(args.results, args.out, resamples=args.resamples, level=args.level, title=args.title)
    for path in paths.values():
        print(path)
    return 0


@user_errors_exit_2
def published(args) -> int:
    from bench.reports.leaderboard.published import write_ranked

    for path in write_ranked(args.results, args.published, args.out).values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
