"""One schema per config group (bench/config.py): task files and ``task.`` overrides are checked against it, and a
training or cross-encoder knob is one schema field plus one YAML line."""

import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, fields, replace

import pytest

from bench import config
from bench.config import CONF_DIR, CrossConfig, RecipeConfig, ScheduleConfig, TaskConfig, conf_values, group_choices
from bench.cross.recipe import CrossRecipe
from bench.digests import digest_json
from bench.errors import BenchError
from bench.launch.cli import check_composition
from bench.tasks.spec import spec_from_config, task_specs
from bench.train.lineage import NOT_TRAINING
from bench.train.recipe import Recipe

TASK_KEYS = ", ".join(sorted(f.name for f in fields(TaskConfig)))


@pytest.mark.parametrize("task", group_choices("task"))
def test_every_shipped_task_file_validates(task):
    cfg = config.compose_config([f"task={task}"])
    config.check_keys(cfg)
    assert [spec.name for spec in task_specs(cfg.task)]


def _conf_copy(tmp_path, edit: str, text: str):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf, ignore=shutil.ignore_patterns("__pycache__"))
    path = conf / "task" / edit
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return conf, path


def test_a_typo_in_a_task_file_names_the_key_the_file_and_the_valid_keys(tmp_path):
    conf, path = _conf_copy(tmp_path, "cdsc_r.yaml", "targt: {kind: score}\n")
    with pytest.raises(BenchError) as error:
        check_composition(["task=cdsc_r"], "config", conf)
    assert str(error.value) == (f"unknown setting 'task.targt' (set in {path}). Did you mean 'task.target'? "
                                f"Valid keys under task: {TASK_KEYS}.")
    with pytest.raises(BenchError, match=r"unknown setting 'task.tasks.cdsc_r.targt' \(set in .*cdsc_r.yaml\)"):
        check_composition(["task=polish"], "config", conf)  # the same file, as a member of a suite


def test_a_typo_in_a_shared_fragment_names_the_fragment(tmp_path):
    conf, path = _conf_copy(tmp_path, "_formats/sick_tsv.yaml", "delimter: ','\n")
    with pytest.raises(BenchError) as error:
        check_composition(["task=sick_e_pl"], "config", conf)
    assert str(error.value).startswith(f"unknown setting 'task.local.delimter' (set in {path}). Did you mean "
                                       f"'task.local.delimiter'? Valid keys under task.local: columns, delimiter, ")


def test_a_task_override_the_schema_lacks_exits_2_with_the_valid_keys(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bench", "task=cdsc_e", "+task.target.positve=[NEUTRAL]"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert ("error: unknown setting 'task.target.positve' (task 'cdsc_e': not in conf/task/cdsc_e.yaml, so from "
            "the command line or the API). Did you mean 'task.target.positive'? Valid keys under task.target: kind, "
            "labels, positive, score_range.") in done.stderr
    assert not (tmp_path / "results").exists()
    with pytest.raises(BenchError, match=r"unknown setting 'task.tasks.ppc.rowz' \(task.tasks.ppc.rowz=1\). Did "
                                         r"you mean 'task.tasks.ppc.rows'\? Valid keys under task.tasks.ppc: name, "):
        check_composition(["task=polish", "task.tasks.ppc.rowz=1"], "config")  # no +: Hydra's own refusal


def test_a_task_written_in_python_is_checked_and_takes_the_schema_defaults():
    cfg = config.compose_config(["task=cdsc_r"]).task
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(cfg, resolve=True)
    with pytest.raises(BenchError, match=r"unknown setting 'task.hub.revison'.*Did you mean 'task.hub.revision'"):
        spec_from_config({**plain, "hub": {**plain["hub"], "revison": "abc"}})
    bare = {k: v for k, v in plain.items() if k not in ("lang", "splits", "eval_split", "mteb_name")}
    bare["mteb_name"] = None  # null: the name
    bare["local"] = {k: v for k, v in plain["local"].items() if k not in ("delimiter", "quoting", "has_header")}
    spec = spec_from_config(bare)  # the defaults of TaskConfig and LocalConfig
    assert spec.mteb_name == "cdsc_r" and spec == replace(spec_from_config(cfg), mteb_name="cdsc_r")


#: What every recipe file sets itself (no shared default): the rest is in the shared YAML.
OWN = {"train": {"name", "loss", "tasks", "select_on"}, "cross": {"name", "head", "tasks"}}
SCHEMAS = {"train": (RecipeConfig, "_recipe", "finetune"), "cross": (CrossConfig, "_cross", "crossencoder")}


@pytest.mark.parametrize("group", ["train", "cross"])
def test_each_schema_field_is_one_yaml_line_and_each_yaml_line_a_field(group):
    schema, shared, config = SCHEMAS[group]
    names = {f.name for f in fields(schema)}
    defaults = conf_values(group, shared, with_defaults=True)
    assert set(defaults) <= names, set(defaults) - names
    assert names - set(defaults) == OWN[group]
    for recipe in group_choices(group):  # each recipe file sets what has no shared default
        own = conf_values(group, recipe)
        assert OWN[group] <= set(own) and set(own) <= names
    # the shared schedule: its fields, its defaults (one file), no more
    assert set(conf_values("train", "_schedule")) == {f.name for f in fields(ScheduleConfig)} - {"name"}
    assert {f.name for f in fields(ScheduleConfig)} < names


def test_the_domain_recipes_are_built_from_the_schema():
    assert [f.name for f in fields(Recipe)] == [f.name for f in fields(RecipeConfig)]
    assert [f.name for f in fields(CrossRecipe)] == [f.name for f in fields(CrossConfig)]
    types = {f.name: f.type for f in fields(Recipe)}
    assert types["matryoshka"] == tuple[int, ...] and types["evaluate_tasks"] == tuple[str, ...] | None


def test_a_new_knob_is_one_schema_field_plus_one_yaml_line():
    """A knob added to the schema (with its range) is converted from text, range-checked and a field of the domain
    object, without a second list anywhere."""

    @dataclass
    class Extended(RecipeConfig):
        label_smoothing: float = config.valid(lambda v: 0 <= v < 1, "a fraction in [0, 1)")

    @config.frozen_from(Extended)
    class Knobbed:
        def __post_init__(self):
            config.check_values(self, Extended, "train")

    yaml_line = {"label_smoothing": 0.1}  # conf/train/_recipe.yaml would say: label_smoothing: 0.1
    base = {**conf_values("train", "_recipe", with_defaults=True), **yaml_line,
            "name": "x", "loss": "cosent", "tasks": ["cdsc_r"], "select_on": ["cdsc_r"]}
    assert Knobbed(**config.domain_values(Extended, base, "train")).label_smoothing == 0.1
    assert Knobbed(**config.domain_values(Extended, {**base, "label_smoothing": "0.2"}, "train")).label_smoothing == 0.2
    with pytest.raises(BenchError, match=r"train.label_smoothing=1.5 is not valid: expected a fraction in \[0, 1\)"):
        Knobbed(**config.domain_values(Extended, {**base, "label_smoothing": 1.5}, "train"))


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("batch_size", 1, "an integer >= 2"), ("learning_rate", 0, "a number > 0"), ("warmup_ratio", 1, r"\[0, 1\)"),
    ("weight_decay", -0.1, ">= 0"), ("eval_steps", 0, ">= 1"), ("seed", -1, "from 0 to 4294967295"),
    ("max_train_pairs", 0, "null .all pairs. or an integer >= 1")])
def test_the_schedule_ranges_are_checked_once_for_both_recipes(key, value, expected):
    train = {"name": "x", "loss": "cosent", "tasks": ["cdsc_r"], "select_on": ["cdsc_r"]}
    for section, build, given in (("train", Recipe.from_config, train),
                                  ("cross", CrossRecipe.from_config, {"name": "x", "head": "task", "tasks": None})):
        with pytest.raises(BenchError, match=f"{section}.{key}={value}.* is not valid: expected .*{expected}"):
            build({**given, key: value})


#: The recipe part of each shipped recipe's training identity (bench.train.lineage.training_identity) and each
#: cross-encoder recipe's training settings, before the schedule base: a refactor of the schema changes none.
PINNED = {
    "train/cdsc_r_cosent/0": "10cefab58ec63418", "train/entailment_mnrl/0": "535b26151e67525e",
    "train/mlm_then_relatedness/1": "671eab74222db9e2", "train/mlm_then_relatedness/2": "b7c8d039b7c6db68",
    "train/multitask_suite/0": "6d2cf406f0ab5bd5", "train/nli_softmax/0": "ee8a9b43900c0129",
    "train/nli_then_relatedness/1": "6cb2970100a27904", "train/pretrain_then_multitask/3": "4f69aabf5db83482",
    "train/relatedness_all/0": "88bd3ef82c8d974a", "train/simcse_then_relatedness/2": "7bddedb1cbbfc395",
    "cross/nli": "f0ceab73db7c5d0f", "cross/pairs": "c73f891b87fc8479",
}


def test_training_identities_of_the_shipped_recipes_are_unchanged():
    found = {}
    for name in group_choices("train"):
        recipe = Recipe.from_config(config.compose_config([f"train={name}"], "finetune").train)
        for number, stage in enumerate([recipe, *recipe.stage_recipes()]):
            training = {k: v for k, v in asdict(stage).items() if k not in NOT_TRAINING}
            found[f"train/{name}/{number}"] = digest_json(training, 16)
    for name in group_choices("cross"):
        found[f"cross/{name}"] = digest_json(
            CrossRecipe.from_config(config.compose_config([f"cross={name}"], "crossencoder").cross).training_settings(), 16)
    assert {key: found[key] for key in PINNED} == PINNED
