"""Typed views of the ``model`` and ``pooling`` config groups."""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.config import conf_values
from bench.errors import BenchError
from bench.models.prompts import check_template, normalise_prompts, resolve_prompt


def _plain(cfg: DictConfig | dict) -> dict:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


#: Task types a model config can give a prompt for (``model.prompts``; MTEB's names and keys: bench.models.prompts).
PROMPT_TASK_TYPES = ("sts", "pair_classification")


#: transformers' attention implementations (``attn_implementation``); which a model supports is its own matter.
ATTENTION_KERNELS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")


@functools.cache
def known_task_names() -> tuple[str, ...]:
    """The MTEB task names of bench's task configs (``conf/task/*.yaml`` ``mteb_name``): prompt keys."""
    from bench.config import CONF_DIR

    names = {conf_values("task", path.stem).get("mteb_name") for path in sorted((CONF_DIR / "task").glob("*.yaml"))}
    return tuple(sorted(n for n in names if isinstance(n, str)))


def is_local_reference(ref: str) -> bool:
    """A local folder: it exists, or it is written as a path (leading ``/``, ``.`` or ``~``). Anything
    else is a hub id, dots included (``ipipan/silver-retriever-base-v1.1``)."""
    return ref.startswith(("/", ".", "~")) or Path(ref).expanduser().is_dir()


@dataclass(frozen=True)
class ModelSpec:
    """What to load and how to feed it.

    ``name_or_path`` is a hub id, a local directory, or ``pkg://MODULE`` for weights shipped in
    an installed Python package (the embedded default). ``hub_id``/``revision`` identify the
    weights for provenance; for a hub id they are also what is downloaded. ``prompts`` holds the
    text put before every sentence, keyed as MTEB keys a model's prompts (task name, task type, prompt
    type), and ``instruction_template`` makes them instructions as MTEB's instruction wrapper does
    (:mod:`bench.models.prompts`); :meth:`prompt` resolves them for one task.
    """

    name: str
    name_or_path: str
    hub_id: str | None
    revision: str
    max_seq_length: int | None  # None: the model's own, filled in by resolve() (bench.models.loading)
    prompts: tuple[tuple[str, str], ...] | None  # None: the model's own, filled in by resolve()
    default_pooling: str  # a conf/pooling name, or "auto": decided by resolve() from the model's files
    has_sbert: bool
    trust_remote_code: bool
    instruction_template: str | None = None
    attn_implementation: str | None = None  # transformers' attention kernel; None: transformers' default
    append_eos: bool = False  # the tokenizer appends its EOS token (add_eos_token), as MTEB runs gte-Qwen2

    @classmethod
    def from_config(cls, cfg: DictConfig | dict) -> ModelSpec:
        """From a ``model`` config; keys it leaves out take the values of ``conf/model/hf.yaml`` (any hub
        id or folder), so a partial config written in Python has the defaults ``model=org/name`` has."""
        given = _plain(cfg)
        c = {**{k: v for k, v in conf_values("model", "hf").items() if v != "???"}, **given}
        if not c.get("name_or_path"):
            raise BenchError("model.name_or_path is empty: give a hub id, a local directory or pkg://MODULE "
                             "(python -m bench model=org/name, or model=/path/to/model).")
        if c.get("prefix"):
            raise BenchError("model.prefix was replaced by model.prompts, a prompt per task type: e.g. "
                             "model.prompts={sts:'query: ',pair_classification:'query: '}.")
        path = str(c["name_or_path"])
        is_local = path.startswith("pkg://") or is_local_reference(path)
        hub_id = c.get("hub_id") or (None if is_local else path)
        max_len = c["max_seq_length"]
        if max_len is not None and (not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 2):
            raise BenchError(f"model.max_seq_length must be an integer >= 2 (or null: the model's own; no limit for a "
                             f"static embedding), got {max_len!r}.")
        own_prompts = c.get("prompts") is None
        prompts = c.get("prompts") or {}
        if not isinstance(prompts, dict):
            raise BenchError(f"model.prompts must map task types to prompts, e.g. {{sts: 'query: '}}; got {prompts!r}.")
        prompts = normalise_prompts(prompts, known_task_names())
        template = c.get("instruction_template")
        check_template(template)
        attention = c.get("attn_implementation")
        if attention is not None and attention not in ATTENTION_KERNELS:
            raise BenchError(f"model.attn_implementation={attention!r} is not a transformers attention kernel; valid: "
                             f"{', '.join(ATTENTION_KERNELS)} (or null for transformers' default).")
        append_eos = c.get("append_eos", False)
        if not isinstance(append_eos, bool):
            raise BenchError(f"model.append_eos must be true or false, got {append_eos!r}.")
        default_name = hub_id or (Path(path).expanduser().name if not path.startswith("pkg://") else path[6:]) or path
        return cls(
            name=str(c.get("name") or default_name),
            name_or_path=path,
            hub_id=hub_id,
            revision=str(c["revision"]),
            max_seq_length=max_len,
            prompts=None if own_prompts else tuple(sorted((str(k), str(v)) for k, v in prompts.items() if v)),
            default_pooling=str(c["default_pooling"]),
            has_sbert=bool(c["has_sbert"]),
            trust_remote_code=bool(c["trust_remote_code"]),
            instruction_template=None if template is None else str(template),
            attn_implementation=attention,
            append_eos=append_eos,
        )

    def prompt(self, task_type: str, task_name: str | None = None) -> str:
        """The text put before every sentence of a task (MTEB task name ``task_name``, bench task type
        ``task_type``; ``probe_*`` results use their task's), both sides of a pair; "" when none."""
        return resolve_prompt(dict(self.prompts or ()), self.instruction_template, task_name, task_type)

    @property
    def slug(self) -> str:
        """Folder name for results, MTEB-style (``org__name``)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", (self.hub_id or self.name).replace("/", "__"))

    def as_dict(self) -> dict:
        out = asdict(self)
        out["prompts"] = dict(self.prompts) if self.prompts is not None else None
        return out
