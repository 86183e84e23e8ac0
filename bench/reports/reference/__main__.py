"""``bench-reference`` (``python -m bench.reports.reference``): the published MTEB scores bench compares with, and
the ones to distrust."""

import sys

from bench.reports.reference import published_markdown


def main() -> None:
    sys.stdout.write(published_markdown())


if __name__ == "__main__":
    main()
