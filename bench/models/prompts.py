"""Which prompt goes before a task's sentences, chosen the way MTEB chooses it.

A model config gives ``model.prompts``, keyed by MTEB task name (``CDSC-R``), MTEB task type (``STS``,
``PairClassification``; bench's own ``sts`` / ``pair_classification`` are the same keys), prompt type
(``query``, ``document``), or a task name or type joined to a prompt type (``STS-query``). Two modes,
as MTEB's two wrappers:

* **prompts** (no ``model.instruction_template``; MTEB's ``SentenceTransformerEncoderWrapper`` with the
  model's ``model_prompts`` / ``config_sentence_transformers.json`` prompts): the text of the first key
  found in the order of ``mteb.models.abs_encoder.get_prompt_name``: task name + prompt type, task name,
  task type + prompt type, task type, prompt type; none found: no prompt.
* **instructions** (``model.instruction_template``, e.g. ``"Instruct: {instruction}\\nQuery: "``; MTEB's
  ``InstructSentenceTransformerModel``): the instruction is the first of ``prompts[task name]``,
  ``prompts[task type]``, ``prompts[prompt type]`` (``AbsEncoder.get_instruction``'s default priority),
  else the task type's default instruction (MTEB's ``abstask_prompt``), formatted by the template when it
  is not empty.

MTEB encodes both sides of a symmetric pair (STS, pair classification) with no prompt type, so both sides
get the same prompt and keys with a prompt type never apply to them; they are accepted so that a config
can copy a model's published prompts whole.
"""

from __future__ import annotations

from collections.abc import Mapping

from bench.errors import BenchError

PROMPT_TYPES = ("query", "document")
#: bench's task types and MTEB's names for them.
MTEB_TASK_TYPES = {"sts": "STS", "pair_classification": "PairClassification"}
#: MTEB's other task types: keys a model's published prompts carry, valid in a config, unused by bench's tasks.
OTHER_MTEB_TASK_TYPES = ("BitextMining", "Classification", "MultilabelClassification", "Clustering", "Reranking",
                         "Retrieval", "InstructionRetrieval", "InstructionReranking", "Summarization", "Any2AnyRetrieval")
#: The instruction MTEB gives a task type when the model has none for it (``AbsTaskSTS.abstask_prompt``,
#: ``AbsTaskPairClassification.abstask_prompt``, mteb 2.x).
DEFAULT_INSTRUCTIONS = {"sts": "Retrieve semantically similar text.",
                        "pair_classification": "Retrieve text that are semantically similar to the given text."}


def normalise_prompts(prompts: Mapping[str, str], task_names: tuple[str, ...]) -> dict[str, str]:
    """``model.prompts`` with bench's task-type keys written as MTEB's (``sts`` -> ``STS``), every key checked.

    ``task_names``: the MTEB task names bench knows (its task configs' ``mteb_name``)."""
    out: dict[str, str] = {}
    given: dict[str, str] = {}
    types = (*MTEB_TASK_TYPES.values(), *OTHER_MTEB_TASK_TYPES)
    for key, text in prompts.items():
        key = str(key)
        name = MTEB_TASK_TYPES.get(key, key)
        base, _, suffix = name.rpartition("-")
        if not (name in types or name in task_names or name in PROMPT_TYPES
                or (suffix in PROMPT_TYPES and (base in types or base in task_names))):
            raise BenchError(
                f"model.prompts has an unknown key '{key}'. Valid keys: a task type ({', '.join(MTEB_TASK_TYPES)}, "
                f"or MTEB's {', '.join(types)}), an MTEB task name ({', '.join(task_names)}), a prompt type "
                f"({', '.join(PROMPT_TYPES)}), or a task name or type joined to a prompt type (e.g. STS-query).")
        if name in out and out[name] != text:
            first, second = sorted((given[name], key))
            raise BenchError(f"model.prompts gives '{first}' and '{second}', the same key in bench's and MTEB's "
                             f"spelling, different prompts; keep one.")
        if text is not None:
            out[name], given[name] = str(text), key
    return out


def check_template(template: str | None) -> None:
    if template is not None and "{instruction}" not in template:
        raise BenchError(f"model.instruction_template must contain '{{instruction}}' (MTEB's rule), got {template!r}; "
                         f"e.g. 'Instruct: {{instruction}}\\nQuery: '.")


def prompt_name(prompts: Mapping[str, str], task_name: str | None, task_type: str,
                prompt_type: str | None = None) -> str | None:
    """The key MTEB's ``get_prompt_name`` picks (prompts mode), or None."""
    mteb_type = MTEB_TASK_TYPES.get(task_type, task_type)
    candidates = [f"{task_name}-{prompt_type}" if task_name and prompt_type else None, task_name,
                  f"{mteb_type}-{prompt_type}" if prompt_type else None, mteb_type, prompt_type]
    return next((key for key in candidates if key and key in prompts), None)


def instruction(prompts: Mapping[str, str], task_name: str | None, task_type: str,
                prompt_type: str | None = None) -> str:
    """The instruction MTEB's ``AbsEncoder.get_instruction`` picks (instructions mode), before the template."""
    mteb_type = MTEB_TASK_TYPES.get(task_type, task_type)
    for key in (task_name, mteb_type, prompt_type):
        if key and key in prompts:  # an empty one stops the search and falls back to the default, as in MTEB
            return prompts[key] or DEFAULT_INSTRUCTIONS.get(task_type, "")
    return DEFAULT_INSTRUCTIONS.get(task_type, "")


def resolve_prompt(prompts: Mapping[str, str], template: str | None, task_name: str | None, task_type: str,
                   prompt_type: str | None = None) -> str:
    """The text put before every sentence of a task (both sides of a symmetric pair: ``prompt_type=None``)."""
    if template is None:
        key = prompt_name(prompts, task_name, task_type, prompt_type)
        return prompts[key] if key else ""
    text = instruction(prompts, task_name, task_type, prompt_type)
    return template.format(instruction=text) if text else ""
