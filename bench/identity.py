"""A result's identity: everything that can change its numbers, its path, and whether it can be reused.

The path holds the model, its revision and the strategy; the settings id (a digest of the rest, stored in
full as ``bench.settings``) makes results of other settings live apart. ``overwrite=missing`` reuses a
result only when its whole identity is the same: settings, the weights and tokenizer/config files, and
bench's version (a fix to bench's code must not be masked by an old number).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench import __version__
from bench.digests import digest_json
from bench.plan import Plan
from bench.results.record import model_revision, result_path, settings_id
from bench.tasks.schema import PairData
from bench.tasks.spec import TaskSpec


def data_id(part: PairData) -> str:
    """What identifies a split's data: the file's SHA-256, or the hub file at its revision."""
    source = part.source
    if source.get("sha256"):
        return f"sha256:{source['sha256']}"
    return f"hub:{source.get('path')}@{source.get('revision')}/{source.get('file') or source.get('split')}"


def declared_labels(name: str) -> dict | None:
    """The positive labels a task's own file (``conf/task/<name>.yaml``) declares, for its original files and its
    hub copy; None when there is no such file (a task defined elsewhere)."""
    from bench.config import CONF_DIR, conf_values

    if not (CONF_DIR / "task" / f"{name}.yaml").is_file():
        return None
    values = conf_values("task", name)
    return {"positive": [str(x) for x in (values.get("target") or {}).get("positive") or ()],
            "hub_positive": [str(x) for x in (values.get("hub") or {}).get("positive") or ()]}


def label_definition(spec: TaskSpec) -> dict | None:
    """Which labels count as positive, when a run scores a label task with another definition than its task
    file's (``task.target.positive=[1]``): part of the result's identity, so it never reuses (or is ranked with)
    a result of the declared definition. None for the declared one, so those results keep their settings id."""
    if spec.target.kind != "label":
        return None
    used = {"positive": [str(x) for x in spec.target.positive], "hub_positive": [str(x) for x in spec.hub.positive]}
    return None if used == declared_labels(spec.name) else used


def attention(spec) -> dict:
    """The attention kernel and an appended EOS token, when asked for (absent otherwise, so earlier results keep
    their identity)."""
    return {**({"attn_implementation": spec.attn_implementation} if spec.attn_implementation else {}),
            **({"append_eos": True} if getattr(spec, "append_eos", False) else {})}


def task_settings(spec: TaskSpec, planned: Plan) -> dict:
    """Everything besides model weights, strategy name and task that can change this result's numbers."""
    parts = planned.data[spec.result_name]
    compression = None
    if planned.compression.active:
        compression = {**planned.compression.identity,
                       "fit_task": planned.compression.fit_task or spec.result_name,
                       "fit_data": data_id(planned.fits[spec.result_name])}
    scoring = planned.evaluator.settings(spec, parts)
    data = {name: data_id(part) for name, part in parts.items()}
    labels = label_definition(spec)
    if labels is not None:
        data["labels"] = labels
    return {
        "model": {"max_seq_length": planned.model_spec.max_seq_length,
                  "prompt": planned.model_spec.prompt(spec.type, spec.mteb_name),
                  "dtype": planned.dtype, **attention(planned.model_spec), **planned.backend.identity()},
        "pooling": planned.pooling.as_dict(),
        "compression": compression,
        "data": data,
        "scoring": {**{k: v for k, v in scoring.items() if k != "probe"},
                    "bootstrap": planned.bootstrap, "level": planned.level, "seed": planned.seed},
        "probe": scoring.get("probe"),
    }


@dataclasses.dataclass(frozen=True)
class Identity:
    settings: dict
    settings_id: str
    identity: str
    path: Path


def identify(planned: Plan) -> dict[str, Identity]:
    """Each task's settings, identity and result path."""
    resolved = planned.resolved
    provenance = resolved.provenance()
    revision = model_revision(provenance)
    # a model fine-tuned by bench.train: what it was trained from (recipe, base weights, data), by its lineage
    training = {"training_id": provenance["lineage"].get("training_id")} if provenance.get("lineage") else {}
    out = {}
    for spec in planned.specs:
        settings = task_settings(spec, planned)
        out[spec.result_name] = Identity(
            settings, settings_id(settings),
            digest_json({"settings": settings, "weights_sha256": resolved.weights_sha256,
                         "files_sha256": resolved.files_sha256, "bench": __version__, **training}),
            result_path(planned.output.results_dir, planned.model_spec.slug, revision, planned.strategy, settings_id(settings),
                        planned.evaluator.output_name(spec)))
    return out
