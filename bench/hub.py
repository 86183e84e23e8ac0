"""The Hugging Face Hub, for models and datasets alike: one download function, offline detected at once.

Everything bench takes from the Hub goes through :func:`fetch_snapshot`, i.e. huggingface_hub's
``snapshot_download`` at a pinned revision into the standard cache (``HF_HUB_CACHE``). With
``HF_HUB_OFFLINE=1``, or when the Hub does not answer a one-second connection probe, the cache is
used alone (``local_files_only``): no retries, one log line, and an error that says what is missing.
"""

from __future__ import annotations

import logging
import re
import socket
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from bench.errors import BenchError

log = logging.getLogger(__name__)

COMMIT = re.compile(r"^[0-9a-f]{40}$")
#: Seconds the connection probe waits for the Hub before bench works from the cache alone.
PROBE_SECONDS = 1.5


def _offline_by_setting() -> bool:
    from huggingface_hub import constants

    checker = getattr(constants, "is_offline_mode", None)
    return bool(checker() if checker is not None else constants.HF_HUB_OFFLINE)


@lru_cache(maxsize=1)
def hub_reachable() -> bool:
    """False when offline mode is set or the Hub's host cannot be reached within a second or two.

    Checked once per process: without it, huggingface_hub retries for half a minute before failing."""
    if _offline_by_setting():
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    port = urlparse(constants.ENDPOINT).port or (443 if constants.ENDPOINT.startswith("https") else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_SECONDS):
            return True
    except OSError as exc:
        log.warning("the Hugging Face Hub (%s) cannot be reached (%s): using the local Hugging Face cache only "
                    "(set HF_HUB_OFFLINE=1 to skip this check).", host, exc.__class__.__name__)
        return False


def check_repo_id(repo_id: str, kind: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise BenchError(f"'{repo_id}' is neither an existing local {kind} folder nor a valid hub id "
                         f"(org/name): {exc}") from None


def fetch_snapshot(repo_id: str, revision: str, *, repo_type: str = "model", allow_patterns: list[str] | None = None,
                   ignore_patterns: list[str] | None = None, what: str = "") -> Path:
    """The snapshot folder of ``repo_id`` at ``revision`` holding the files that match the patterns
    (downloaded if needed; from the cache alone when offline)."""
    from huggingface_hub import snapshot_download

    check_repo_id(repo_id, repo_type)
    offline = not hub_reachable()
    try:
        path = snapshot_download(repo_id=repo_id, revision=revision, repo_type=repo_type,
                                 allow_patterns=allow_patterns, ignore_patterns=ignore_patterns,
                                 local_files_only=offline)
    except Exception as exc:  # network, auth, missing revision or files: all user-fixable
        label = f"{what} " if what else ""
        if offline:
            from huggingface_hub import constants

            reason = (f"the Hub is not used (offline) and the Hugging Face cache ({constants.HF_HUB_CACHE}) does not "
                      f"hold it, or not all of its files ({exc.__class__.__name__}); fetch it once with network "
                      f"access, or copy a Hugging Face cache that holds it to {constants.HF_HUB_CACHE} (or point "
                      f"HF_HUB_CACHE at it)" + (local_copy_hint(repo_id, revision) if repo_type == "model" else ""))
        else:
            reason = f"{exc.__class__.__name__}: {_first_line(exc)}"
        log.debug("fetching %s '%s' at %s", repo_type, repo_id, revision, exc_info=exc)
        raise BenchError(f"could not fetch {label}{repo_type} '{repo_id}' at revision '{revision}': {reason}.") from exc
    return Path(path)


def local_copy_hint(repo_id: str, revision: str) -> str:
    """How to run a hub model from a folder: download it where the Hub answers, then name the folder."""
    return (f", or use a model folder: hf download {repo_id} --revision {revision} --local-dir DIR on a machine "
            f"with network access, copy DIR here and set model.name_or_path=DIR (keeps the model config's other "
            f"settings) or model=DIR")


def snapshot_commit(path: Path) -> str | None:
    """The commit a hub snapshot folder holds (``.../snapshots/<commit>``)."""
    return path.name if COMMIT.match(path.name) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else exc.__class__.__name__
