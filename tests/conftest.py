"""Shared fixtures: the reference data, tiny offline models of each architecture, Hydra configs, and an
offline Hugging Face cache holding replicas of the real repositories (tests/hub_replica.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Before anything imports huggingface_hub: the whole test session (subprocesses included) works offline
# on its own Hugging Face cache, never the user's, and never the network.
HF_HOME = Path(tempfile.mkdtemp(prefix="bench-tests-hf-"))
atexit.register(shutil.rmtree, HF_HOME, ignore_errors=True)
os.environ.update(HF_HOME=str(HF_HOME), HF_HUB_CACHE=str(HF_HOME / "hub"), HF_DATASETS_CACHE=str(HF_HOME / "datasets"),
                  HF_HUB_OFFLINE="1")
os.environ.pop("BENCH_DATA_ROOT", None)  # tests say where their data is

import pytest  # noqa: E402 -- after the environment above
from hydra import compose, initialize_config_dir  # noqa: E402 -- after the environment above
from hydra.core.global_hydra import GlobalHydra  # noqa: E402 -- after the environment above

import bench.config  # noqa: E402,F401 -- registers the config schema
from bench.config import VERSION_BASE  # noqa: E402
from tests.helpers import (  # noqa: E402,F401 -- after the environment above; the names tests import from here
    BUILDERS,
    CORPUS,
    KEYWORDS,
    noisy,
    save_sbert,
    synthetic_rows,
    train_data,
    write_cdscorpus,
    write_sick_like,
)

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real benchmark data; skipped when absent, a failure when BENCH_REQUIRE_DATA=1 (CI)."""
    if (SHARED_DATA / "cdscorpus" / "CDS_test_annotated.txt").is_file():
        return SHARED_DATA
    if os.environ.get("BENCH_REQUIRE_DATA") == "1":
        pytest.fail(f"BENCH_REQUIRE_DATA=1 but the reference data is missing at {SHARED_DATA}")
    pytest.skip(f"reference data not found at {SHARED_DATA}")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The tiny-model factory: ``tiny_model(kind="bert"|"roberta"|"xlmr"|"qwen3"|"sbert", name=None, **overrides)``
    gives the folder of a tiny offline model (tests/helpers.py builds it), built once per session for each set of
    arguments. ``overrides`` change the model config's fields (``num_hidden_layers=1``), or for BERT its ``vocab``
    (a tuple) and ``tokenizer_json``; ``name`` is the folder's name (a model's name in messages and results), by
    default the kind (``model`` for the sbert pipeline). An sbert pipeline wraps the BERT of the same overrides.
    Tests that change a model copy its folder first: the folders are shared."""
    built: dict[tuple, Path] = {}

    def factory(kind: str = "bert", name: str | None = None, **overrides) -> Path:
        if kind not in {*BUILDERS, "sbert"}:
            raise ValueError(f"no tiny model of kind {kind!r}; the kinds: {sorted({*BUILDERS, 'sbert'})}")
        key = (kind, name, tuple(sorted(overrides.items())))
        if key not in built:
            directory = tmp_path_factory.mktemp(f"tiny_{kind}") / (name or ("model" if kind == "sbert" else kind))
            if kind == "sbert":
                built[key] = save_sbert(directory, factory("bert", **overrides))
            else:
                built[key] = BUILDERS[kind](directory, **overrides)
        return built[key]

    return factory


@pytest.fixture(scope="session")
def tiny_models(tiny_model) -> dict[str, Path]:
    return {kind: tiny_model(kind) for kind in ("bert", "roberta", "xlmr")}


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory) -> Path:
    """One embedding cache for every test that runs the embedded model on the real data: the suite is
    encoded once per session (the cache is keyed by everything that changes a vector, so sharing is safe).
    ``BENCH_TEST_CACHE=DIR`` keeps it in DIR (CI hands it to the wheel check, which then encodes nothing twice)."""
    shared = os.environ.get("BENCH_TEST_CACHE")
    if shared:
        Path(shared).mkdir(parents=True, exist_ok=True)
        return Path(shared)
    return tmp_path_factory.mktemp("embedded-cache")


@pytest.fixture(scope="session")
def hub_models(tmp_path_factory) -> dict[str, Path]:
    """Replicas of every hub model config's repository in the session's Hugging Face cache."""
    from tests.hub_replica import install_model_replicas

    return install_model_replicas(Path(os.environ["HF_HUB_CACHE"]), tmp_path_factory.mktemp("repositories"))


@pytest.fixture(scope="session")
def hub_datasets(data_root) -> list[str]:
    """Replicas of the PL-MTEB dataset repositories and mteb/stsb_multi_mt, built from the original files."""
    from tests.hub_replica import install_dataset_replicas

    return install_dataset_replicas(Path(os.environ["HF_HUB_CACHE"]), data_root)


@pytest.fixture(scope="session")
def tiny_sbert(tiny_model) -> Path:
    """A tiny sentence-transformers pipeline (Transformer -> mean Pooling -> Normalize) over the tiny BERT."""
    return tiny_model("sbert")


@pytest.fixture
def make_cfg(tmp_path):
    """Compose the real config with overrides; results go to a temporary folder."""

    def _compose(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF_DIR), **VERSION_BASE):
            cfg = compose("config", overrides=[f"results_dir={tmp_path / 'results'}", "encode.progress=false",
                                               f"cache.dir={tmp_path / 'cache'}", *overrides])
        GlobalHydra.instance().clear()
        return cfg

    return _compose


@pytest.fixture
def tiny_data_root(tmp_path) -> Path:
    """A miniature data root in the original layouts (CDSCorpus and STSb) for fast end-to-end runs."""
    root = tmp_path / "data"
    pairs = [
        (1, CORPUS[0], CORPUS[1], 1.5, "NEUTRAL"),
        (2, CORPUS[1], CORPUS[4], 4.5, "ENTAILMENT"),
        (3, CORPUS[2], CORPUS[3], 0.5, "CONTRADICTION"),
        (4, CORPUS[3], CORPUS[3], 5.0, "ENTAILMENT"),
        (5, CORPUS[5], CORPUS[2], 0.0, "NEUTRAL"),
        (6, CORPUS[0], CORPUS[2], 2.0, "NEUTRAL"),
    ]
    return write_cdscorpus(root, train=pairs, trial=pairs, test=pairs)


def pytest_collection_modifyitems(config, items):
    """Tests on the real data are in the data tier and the slow one (they run the embedded model over it)."""
    for item in items:
        if {"data_root", "hub_datasets"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def train_root(tmp_path):
    """The training data (tests/helpers.py train_data): its test file is unreadable garbage that training must
    never open."""
    return train_data(tmp_path / "data")


def _classes_with_auto_class() -> set:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    found, todo = set(), [PreTrainedModel, PreTrainedTokenizerBase]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "_auto_class" in cls.__dict__:
            found.add(cls)
    return found


@pytest.fixture(autouse=True)
def _transformers_auto_classes_restored():
    """A repository whose auto_map names transformers' own classes (the gte-Qwen2 replica's stand-in code files)
    makes transformers mark those classes as custom code (``_auto_class``) for the rest of the process; every later
    save of a Qwen2 tokenizer would then try to copy transformers' own source as custom code. Each test starts clean."""
    before = _classes_with_auto_class()
    yield
    for cls in _classes_with_auto_class() - before:
        delattr(cls, "_auto_class")
