"""Prompts chosen as MTEB chooses them: by task name, task type and prompt type, with MTEB's priority, and
instructions formatted by the model's template (bench/models/prompts.py)."""

import json

import pytest

from bench.errors import BenchError
from bench.models.prompts import DEFAULT_INSTRUCTIONS, resolve_prompt
from bench.models.spec import ModelSpec, known_task_names
from bench.run import run
from tests.helpers import tiny_overrides

TASKS = {"CDSC-R": "sts", "SICK-R-PL": "sts", "CDSC-E": "pair_classification", "PpcPC": "pair_classification"}
#: Prompt dictionaries that exercise every level of the priority, in both modes.
CASES = [
    {},
    {"query": "q: ", "document": "d: "},
    {"STS": "sts: ", "PairClassification": "pc: "},
    {"STS": "sts: ", "CDSC-R": "cdscr: ", "STS-query": "stsq: "},
    {"CDSC-R-query": "cq: ", "query": "q: ", "PairClassification": ""},
    {"CDSC-E": "", "PairClassification": "pc: ", "SICK-R-PL": "sick: "},
]


def test_known_task_names_come_from_the_task_configs():
    assert {"CDSC-R", "CDSC-E", "SICK-R-PL", "SICK-E-PL", "PpcPC", "PSC", "STSBenchmarkMultilingualSTS"} <= set(
        known_task_names())


@pytest.mark.parametrize("prompts", CASES)
@pytest.mark.parametrize("prompt_type", [None, "query", "document"])
def test_prompts_mode_equals_mteb_get_prompt(prompts, prompt_type):
    """No template: the prompt MTEB's SentenceTransformerEncoderWrapper passes (get_prompt_name's priority)."""
    mteb = pytest.importorskip("mteb")
    from mteb.models.abs_encoder import get_prompt
    from mteb.types import PromptType

    for name, kind in TASKS.items():
        meta = mteb.get_task(name).metadata
        theirs = get_prompt(prompts, meta, PromptType(prompt_type) if prompt_type else None) or ""
        assert resolve_prompt(prompts, None, name, kind, prompt_type) == theirs, (name, prompt_type)


@pytest.mark.parametrize("prompts", CASES)
@pytest.mark.parametrize("template", ["Instruct: {instruction}\nQuery: ", "Instruct: {instruction}\nQuery:"])
def test_instructions_mode_equals_mteb_instruct_wrapper(prompts, template):
    """A template: the instruction MTEB's InstructSentenceTransformerModel uses (get_task_instruction), both
    sides of a symmetric pair (prompt type None), the task type's default instruction when none is given."""
    mteb = pytest.importorskip("mteb")
    from mteb.models.abs_encoder import AbsEncoder

    class Wrapper(AbsEncoder):
        def encode(self, *args, **kwargs):
            raise NotImplementedError

    wrapper = Wrapper()
    wrapper.prompts_dict, wrapper.instruction_template = prompts, template
    for name, kind in TASKS.items():
        theirs = wrapper.get_task_instruction(mteb.get_task(name).metadata, None)
        assert resolve_prompt(prompts, template, name, kind) == theirs, name


def test_default_instructions_are_mteb_abstask_prompts():
    mteb = pytest.importorskip("mteb")
    from mteb.abstasks.pair_classification import AbsTaskPairClassification
    from mteb.abstasks.sts import AbsTaskSTS

    assert DEFAULT_INSTRUCTIONS == {"sts": AbsTaskSTS.abstask_prompt,
                                    "pair_classification": AbsTaskPairClassification.abstask_prompt}
    assert mteb.get_task("CDSC-R").metadata.prompt is None  # so the abstask prompt is the one MTEB uses


def test_a_models_own_prompts_resolve_as_mteb_resolves_them(tmp_path):
    """``prompts: null`` (EmbeddingGemma's config): the prompts of the model's config_sentence_transformers.json,
    chosen for each task as MTEB's SentenceTransformerEncoderWrapper chooses them (its keys validated, then
    get_prompt_name with no prompt type: symmetric tasks)."""
    mteb = pytest.importorskip("mteb")
    from mteb.models.abs_encoder import AbsEncoder, get_prompt

    from bench.models.loading import own_settings
    from tests.hub_replica import EMBEDDINGGEMMA_PROMPTS

    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": EMBEDDINGGEMMA_PROMPTS, "default_prompt_name": None}), encoding="utf-8")
    spec, reasons = own_settings(ModelSpec.from_config({"name_or_path": str(tmp_path), "prompts": None}), tmp_path)
    assert reasons["prompts"].endswith("sts: its 'STS' prompt; pair_classification: its 'PairClassification' prompt")
    valid, invalid = AbsEncoder.validate_task_to_prompt_name(EMBEDDINGGEMMA_PROMPTS, raise_for_invalid_keys=False)
    assert not invalid
    for name, kind in TASKS.items():
        theirs = get_prompt(valid, mteb.get_task(name).metadata, None)
        assert spec.prompt(kind, name) == theirs == "task: sentence similarity | query: ", name


def test_bench_task_types_are_mteb_task_types():
    spec = ModelSpec.from_config({"name_or_path": "x/y", "prompts": {"sts": "a: ", "CDSC-R": "b: "}})
    assert dict(spec.prompts) == {"STS": "a: ", "CDSC-R": "b: "}
    assert spec.prompt("sts", "CDSC-R") == "b: " and spec.prompt("sts", "SICK-R-PL") == "a: "
    assert spec.prompt("sts") == "a: " and spec.prompt("pair_classification", "CDSC-E") == ""


def test_bad_prompt_keys_and_templates_are_refused():
    with pytest.raises(BenchError, match=r"unknown key 'retrieval'.*Valid keys: a task type.*CDSC-R.*query, document"):
        ModelSpec.from_config({"name_or_path": "x/y", "prompts": {"retrieval": "q: "}})
    with pytest.raises(BenchError, match="unknown key 'CDSC-R-passage'"):
        ModelSpec.from_config({"name_or_path": "x/y", "prompts": {"CDSC-R-passage": "q: "}})
    with pytest.raises(BenchError, match="gives 'STS' and 'sts'.*keep one"):
        ModelSpec.from_config({"name_or_path": "x/y", "prompts": {"sts": "a: ", "STS": "b: "}})
    with pytest.raises(BenchError, match=r"instruction_template must contain '\{instruction\}'"):
        ModelSpec.from_config({"name_or_path": "x/y", "instruction_template": "Instruct: "})
    assert ModelSpec.from_config({"name_or_path": "x/y", "prompts": {"Retrieval-query": "q: "}}).prompt("sts") == ""


def test_resolved_instruction_reaches_the_result_cache_and_identity(make_cfg, tiny_models, tiny_data_root):
    base = (*tiny_overrides(tiny_models["bert"], tiny_data_root), "pooling=mean")
    (plain,) = run(make_cfg(*base))
    (instructed,) = run(make_cfg(*base, "model.instruction_template='Instruct: {instruction}\nQuery: '"))
    wanted = "Instruct: Retrieve semantically similar text.\nQuery: "
    assert instructed["bench"]["encoding"]["prompt"] == wanted
    assert instructed["bench"]["settings"]["model"]["prompt"] == wanted
    assert instructed["bench"]["settings_id"] != plain["bench"]["settings_id"]  # a result of its own
    assert instructed["bench"]["encoding"]["sentences_encoded_this_run"] > 0  # not served from the plain vectors
    (named,) = run(make_cfg(*base, "model.instruction_template='Instruct: {instruction}\nQuery: '",
                            "+model.prompts.CDSC-R='Score the relatedness.'"))
    assert named["bench"]["encoding"]["prompt"] == "Instruct: Score the relatedness.\nQuery: "


def test_polish_frontier_experiment_names_the_frontier_configs():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from bench.config import CONF_DIR, VERSION_BASE
    from bench.launch.cli import group_choices

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
        cfg = compose("config", overrides=["experiment=polish_frontier"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    models = cfg.hydra.sweeper.params.model.split(",")
    assert set(models) <= set(group_choices("model")) and len(models) == 10
    assert {"qwen3_embedding_0_6b", "embeddinggemma_300m"} <= set(models)
    assert models[-1] == "gte_qwen2_7b_instruct"  # refused without trust: last, so the others run first
    for model in models:  # each composes and names a pinned full commit
        from bench.config import compose_config

        spec = ModelSpec.from_config(compose_config([f"model={model}"]).model)
        assert len(spec.revision) == 40 and spec.has_sbert


def test_a_fine_tuned_model_keeps_its_bases_prompts_and_template(tmp_path):
    """bench.train evaluates a saved model with its base's prompts: task-name keys and the template included."""
    from bench.train.loop import saved_model_spec

    base = ModelSpec.from_config({"name": "base", "name_or_path": "x/y", "prompts": {"CDSC-R": "Score relatedness."},
                                  "instruction_template": "Instruct: {instruction}\nQuery: "})
    saved = saved_model_spec(tmp_path, base, "ft")
    assert dict(saved.prompts) == {"CDSC-R": "Score relatedness."}
    assert saved.instruction_template == base.instruction_template
    assert saved.prompt("sts", "CDSC-R") == "Instruct: Score relatedness.\nQuery: "
    assert saved.prompt("sts", "SICK-R-PL") == base.prompt("sts", "SICK-R-PL")
