"""The loaders on the real files: row counts, label sets, the PPC quoting trap, duplicates."""

from collections import Counter

import numpy as np
import pytest
from omegaconf import OmegaConf

from bench.errors import DataError
from bench.tasks.spec import load_task, spec_from_config, task_specs

ROWS = {
    "cdsc_r": (8000, 1000, 1000),
    "cdsc_e": (8000, 1000, 1000),
    "sick_r_pl": (4439, 495, 4906),
    "sick_e_pl": (4439, 495, 4906),
    "ppc": (5000, 1000, 1000),
    "stsb_multi_mt": (5749, 1500, 1379),
}


@pytest.fixture(scope="module")
def suite(data_root):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.conftest import CONF_DIR, VERSION_BASE

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
        cfg = compose("config")
    GlobalHydra.instance().clear()
    return {spec.name: (spec, load_task(spec, data_root)) for spec in task_specs(cfg.task)}


@pytest.mark.parametrize("task", sorted(ROWS))
def test_row_counts(suite, task):
    _, splits = suite[task]
    assert tuple(len(splits[s]) for s in ("train", "validation", "test")) == ROWS[task]


def test_cdsc_test_labels_and_duplicates(suite):
    _, splits = suite["cdsc_e"]
    test = splits["test"]
    assert Counter(test.raw_labels) == {"NEUTRAL": 744, "CONTRADICTION": 66, "ENTAILMENT": 190}
    assert int(test.targets.sum()) == 190
    assert len(set(test.sentences)) == 859


def test_cdsc_relatedness_scale(suite):
    train = suite["cdsc_r"][1]["train"]
    assert train.targets.min() == 0.0 and train.targets.max() == 5.0
    assert int((train.targets < 1).sum()) == 2326


def test_sick_scale_and_duplicates(suite):
    test = suite["sick_r_pl"][1]["test"]
    assert test.targets.min() >= 1.0 and test.targets.max() == 5.0
    assert len(set(test.sentences)) == 4908
    assert set(suite["sick_e_pl"][1]["test"].raw_labels) == {"NEUTRAL", "CONTRADICTION", "ENTAILMENT"}


def test_ppc_labels_and_quotes_survive(suite):
    spec, splits = suite["ppc"]
    test = splits["test"]
    assert Counter(test.raw_labels) == {"1": 419, "2": 185, "3": 396}
    assert int(test.targets.sum()) == 604  # positive = exact (1) and close (2) paraphrases
    assert 'Rekordowa "Szlachetna Paczka".' in test.sentence1  # quotes kept verbatim
    assert sum('"' in s for s in splits["train"].sentences) > 0


def test_ppc_quote_honouring_parser_is_caught(suite, data_root):
    spec, _ = suite["ppc"]
    raw = OmegaConf.create({**_spec_cfg(spec), "local": {**_spec_cfg(spec)["local"], "quoting": "csv"}})
    with pytest.raises(DataError, match=r"train.txt:\d+: malformed row|expected 5000"):
        load_task(spec_from_config(raw), data_root, splits=("train",))


def test_ppc_mteb_variant_reproduces_hub_text(data_root):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.conftest import CONF_DIR, VERSION_BASE

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
        cfg = compose("config", overrides=["task=ppc_mteb"])
    GlobalHydra.instance().clear()
    (spec,) = task_specs(cfg.task)
    test = load_task(spec, data_root)["test"]
    assert len(test) == 1000 and spec.splits == ("test",)
    assert "Le Monde o zwrocie Macrona w stronę Putina i Rosji." in test.sentence1  # was "Le Monde" o ...


def test_stsb_csv_quoting_and_scale(suite):
    test = suite["stsb_multi_mt"][1]["test"]
    assert test.targets.dtype == np.float64 and 0.0 <= test.targets.min() and test.targets.max() <= 5.0
    assert test.sentence1[0] == "Dziewczyna układa sobie włosy."
    assert test.source["sha256"] and test.source["path"].endswith("stsb-pl-test.csv")


def test_stsb_other_language_reads_its_files(suite, data_root):
    spec, _ = suite["stsb_multi_mt"]
    cfg = _spec_cfg(spec)
    cfg["lang"] = "en"
    en = load_task(spec_from_config(OmegaConf.create(cfg)), data_root, splits=("test",))["test"]
    assert len(en) == 1379 and en.source["path"].endswith("stsb-en-test.csv")
    cfg["lang"] = "de"  # a valid language whose files are not in the local copy
    with pytest.raises(DataError, match=r"test file is missing: looked for .*stsb-de-test.csv"):
        load_task(spec_from_config(OmegaConf.create(cfg)), data_root, splits=("test",))


def _spec_cfg(spec) -> dict:
    """Rebuild a plain task config from a spec's source config (for variations in tests)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from tests.conftest import CONF_DIR, VERSION_BASE

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
        cfg = compose("config", overrides=[f"task={spec.name}"])
    GlobalHydra.instance().clear()
    return OmegaConf.to_container(cfg.task)
