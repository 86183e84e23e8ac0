"""The one door every model load goes through: evaluation (:mod:`bench.models.loading`), training and its
masked-LM stage (:mod:`bench.train`), cross-encoders (:mod:`bench.cross`) and preflight (through evaluation's
loaders). Whatever the library that builds the model (transformers, sentence-transformers), :func:`open_model`
applies the same rules:

* trust: code from the model's repository runs only when the model config asks (``model.trust_remote_code``);
  a config that maps the loaded class to the repository's code (``auto_map``), or a pipeline with modules
  outside sentence-transformers, is refused without it, with the reason;
* safe weights: safetensors when the model has them (``use_safetensors``), pickled weights only through
  PyTorch's restricted unpickler (:func:`bench.models.weights.restricted_unpickling`);
* one line for the user: a failure inside the door is a :class:`BenchError` naming the model folder, chained
  to the original exception (``__cause__``) and logged with its traceback at debug level, so a real
  incompatibility can be debugged (``hydra.verbose=bench.models.door``) while the command line prints one line.

The revision is pinned before the door, by :func:`bench.models.loading.resolve` (the snapshot folder it gives).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.errors import BenchError
from bench.models.weights import pipeline_modules, restricted_unpickling, transformer_dir

if TYPE_CHECKING:
    from bench.models.loading import ResolvedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Access:
    """What a loader passes on to transformers or sentence-transformers, from the model config and its weights
    (read when asked: a tokenizer alone needs no weights)."""

    resolved: ResolvedModel

    @property
    def trust_remote_code(self) -> bool:
        return bool(self.resolved.spec.trust_remote_code)

    @property
    def use_safetensors(self) -> bool | None:
        """True when every module has safetensors; None (transformers' choice) when some are pickled."""
        return not self.resolved.weights.pickled or None

    @property
    def model_kwargs(self) -> dict:
        return {"use_safetensors": self.use_safetensors}


@contextmanager
def open_model(resolved: ResolvedModel, what: str, *, auto_class: str | None = "AutoModel", pipeline: bool = False,
               hint: str = "") -> Iterator[Access]:
    """Load inside ``with open_model(resolved, "cannot load ...") as access:``, passing ``access``'s settings on.
    Refuses first what needs trust the config does not give (``auto_class`` mapped to the repository's code;
    ``pipeline``: custom sentence-transformers modules); inside, pickles load restricted and transformers is
    quiet; any failure becomes ``BenchError("<what>: <class>: <first line><hint>")`` from the original."""
    if auto_class:
        check_remote_code(resolved, auto_class)
    if pipeline:
        check_custom_modules(resolved)
    try:
        with restricted_unpickling(), quiet_transformers():
            yield Access(resolved)
    except BenchError:
        raise
    except Exception as exc:  # unreadable files, refused pickles, unknown architectures: one line, cause chained
        raise load_error(what, exc, hint) from exc


def load_error(what: str, exc: BaseException, hint: str = "") -> BenchError:
    """The one-line error of a failed load; the original's traceback goes to the debug log (the caller raises
    the error ``from exc``, so it is also the error's ``__cause__``)."""
    log.debug("%s", what, exc_info=exc)
    return BenchError(f"{what}: {exc.__class__.__name__}: {first_line(exc)}{hint}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its per-file progress bars and load reports while bench loads or saves a
    model (bench reports what matters in one line: format, files, commit)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def check_remote_code(resolved: ResolvedModel, auto_class: str = "AutoModel") -> None:
    """A repository whose config.json maps the class loaded (``AutoModel``, ``AutoModelForMaskedLM``, ...) to its
    own code (``auto_map``) is that code's model: without trust, transformers would load its built-in class for
    the same ``model_type`` instead, another model (e.g. causal attention where the repository's code has its
    own), silently. Refused with the reason."""
    if resolved.spec.trust_remote_code or getattr(resolved, "path", None) is None:
        return
    config = transformer_dir(resolved.path) / "config.json"
    try:
        mapped = json.loads(config.read_text(encoding="utf-8")).get("auto_map", {}).get(auto_class)
    except (OSError, ValueError, AttributeError):
        return
    if mapped:
        raise BenchError(f"model '{resolved.spec.name}' needs its repository's own code: its config.json maps "
                         f"{auto_class} to {mapped}, which runs only with trust_remote_code (without it transformers "
                         f"would load its built-in class, another model). Set model.trust_remote_code=true only if "
                         f"you trust that repository.")


def check_custom_modules(resolved: ResolvedModel) -> None:
    """Modules outside sentence-transformers are code from the model's repository: refused without trust."""
    if resolved.spec.trust_remote_code:
        return
    custom = [m for m in pipeline_modules(resolved.path) if not m.type.startswith(("sentence_transformers.",
                                                                                     "transformers."))]
    if custom:
        names = ", ".join(f"{m.path or '.'} ({m.type})" for m in custom)
        raise BenchError(f"model '{resolved.spec.name}' uses custom pipeline module(s) {names}, which run code from "
                         f"the model's repository; set model.trust_remote_code=true only if you trust it.")
