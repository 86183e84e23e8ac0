"""``python -m bench.reference``: the published MTEB scores bench compares with, and the ones to distrust."""

import sys

from bench.reference import published_markdown

if __name__ == "__main__":
    sys.stdout.write(published_markdown())
