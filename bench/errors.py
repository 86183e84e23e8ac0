"""User-facing errors.

Anything the user can fix (a bad name, a missing or malformed data file) raises
:class:`BenchError`. The CLI prints its message without a traceback and exits with status 2;
genuine bugs still surface as ordinary exceptions with their traceback.
"""

from __future__ import annotations

import difflib
import functools
import sys
from collections.abc import Callable, Iterable


class BenchError(Exception):
    """An error caused by the user's input or environment, with a message that says how to fix it."""


class DataError(BenchError):
    """A data file is missing or malformed."""


class OutputError(BenchError):
    """Computed results could not all be written (a full disk, a folder turned read-only): the message says
    which were written and which were not, and why. Not the input's fault: exit status 1, not 2."""

    status = 1


def exit_status(exc: BenchError) -> int:
    return getattr(exc, "status", 2)


class NotApplicable(BenchError):
    """A combination of settings that cannot exist (the ``sbert`` strategy on a model without a
    sentence-transformers pipeline). Alone it is bad input (status 2); in a sweep the job is skipped, listed
    once in the summary, and does not fail the sweep: a grid of models x strategies holds such cells."""


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> BenchError:
    """Build an error for an unknown name, listing the valid names and the closest match."""
    valid = sorted(set(choices))
    close = difflib.get_close_matches(value, valid, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return BenchError(f"Unknown {kind} '{value}'.{hint} Valid {kind} names: {', '.join(valid)}.")


def user_errors_exit_2(main: Callable[..., int]) -> Callable[..., int]:
    """Decorate a command's ``main``: a :class:`BenchError` prints one ``error:`` line on stderr and
    the command returns status 2, without a traceback."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exit_status(exc)

    return wrapper
