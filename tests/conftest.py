"""Shared fixtures: the reference data, tiny offline models of each architecture, Hydra configs, and an
offline Hugging Face cache holding replicas of the real repositories (tests/hub_replica.py)."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import string
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
import torch  # noqa: E402 -- after the environment above
from hydra import compose, initialize_config_dir  # noqa: E402 -- after the environment above
from hydra.core.global_hydra import GlobalHydra  # noqa: E402 -- after the environment above

import bench.config  # noqa: E402,F401 -- registers the config schema
from bench.config import VERSION_BASE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "conf"
SHARED_DATA = ROOT.parent / "shared" / "data"

CORPUS = [
    "Dwoje dzieci wspina się po ściance wspinaczkowej .",
    "Mężczyzna gra na gitarze na scenie .",
    "Kobieta kroi cebulę w kuchni .",
    "Pies biegnie po plaży za piłką .",
    "A man is playing the guitar on stage.",
    "Zażółć gęślą jaźń, 123!",
]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real benchmark data; skipped when absent, a failure when BENCH_REQUIRE_DATA=1 (CI)."""
    if (SHARED_DATA / "cdscorpus" / "CDS_test_annotated.txt").is_file():
        return SHARED_DATA
    if os.environ.get("BENCH_REQUIRE_DATA") == "1":
        pytest.fail(f"BENCH_REQUIRE_DATA=1 but the reference data is missing at {SHARED_DATA}")
    pytest.skip(f"reference data not found at {SHARED_DATA}")


def _save_bert(directory: Path) -> Path:
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    chars = sorted(set(string.ascii_letters + string.digits + string.punctuation + "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    wordpiece = BertWordPieceTokenizer(str(directory / "vocab.txt"), lowercase=False, strip_accents=False)
    tokenizer = BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                  cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", do_lower_case=False)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def _save_roberta(directory: Path) -> Path:
    from transformers import RobertaConfig, RobertaModel

    from tests.hub_replica import roberta_bpe_tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = roberta_bpe_tokenizer(CORPUS * 5)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(1)
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=130, pad_token_id=1)
    RobertaModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def _save_xlmr(directory: Path) -> Path:
    from tokenizers import SentencePieceUnigramTokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    unigram = SentencePieceUnigramTokenizer()
    unigram.train_from_iterator(CORPUS * 5, vocab_size=120, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                unk_token="<unk>")
    backend = unigram._tokenizer
    backend.post_processor = TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", backend.token_to_id("<s>")), ("</s>", backend.token_to_id("</s>"))],
    )
    tokenizer = XLMRobertaTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>")
    tokenizer.save_pretrained(directory)
    torch.manual_seed(2)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=130, pad_token_id=tokenizer.pad_token_id)
    XLMRobertaModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("tiny_models")
    return {"bert": _save_bert(base / "bert"), "roberta": _save_roberta(base / "roberta"), "xlmr": _save_xlmr(base / "xlmr")}


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
def tiny_sbert(tiny_models, tmp_path_factory) -> Path:
    """A tiny sentence-transformers pipeline (Transformer -> mean Pooling -> Normalize)."""
    from sentence_transformers import SentenceTransformer

    from bench.models.loading import st_modules

    models = st_modules()

    transformer = models.Transformer(str(tiny_models["bert"]), max_seq_length=32)
    dim = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    pooling = models.Pooling(dim(), pooling_mode="mean")
    directory = tmp_path_factory.mktemp("tiny_sbert") / "model"
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(str(directory))
    return directory


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


def write_sick_like(path: Path, rows: list[tuple]) -> Path:
    """A file in the CDSCorpus / SICK-PL layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"]
    lines += ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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
    for name in ("CDS_train.txt", "CDS_trial.txt", "CDS_test_annotated.txt"):
        write_sick_like(root / "cdscorpus" / name, pairs)
    return root




def pytest_collection_modifyitems(config, items):
    """Tests on the real data are in the data tier and the slow one (they run the embedded model over it)."""
    for item in items:
        if {"data_root", "hub_datasets"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)
            item.add_marker(pytest.mark.slow)


KEYWORDS = ["kot", "pies", "dom", "las"]


def noisy(keyword: str, rng: random.Random) -> str:
    noise = lambda: "".join(rng.choice("abcdefghijklmnoprstuwyz") for _ in range(rng.randint(6, 10)))  # noqa: E731
    return f"{noise()} {keyword} {noise()}"


def synthetic_rows(n: int, seed: int) -> list[tuple]:
    """Relatedness 5 when both sentences carry the same keyword in random noise, 0 otherwise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first = rng.choice(KEYWORDS)
        second = first if i % 2 == 0 else rng.choice([k for k in KEYWORDS if k != first])
        rows.append((i, noisy(first, rng), noisy(second, rng), 5.0 if first == second else 0.0,
                     "ENTAILMENT" if first == second else "NEUTRAL"))
    return rows


@pytest.fixture
def train_root(tmp_path):
    root = tmp_path / "data"
    write_sick_like(root / "cdscorpus" / "CDS_train.txt", synthetic_rows(256, 0))
    write_sick_like(root / "cdscorpus" / "CDS_trial.txt", synthetic_rows(80, 1))
    # the test file is unreadable garbage: training must never open it
    (root / "cdscorpus" / "CDS_test_annotated.txt").write_text("not\ta\tvalid\tfile\n", encoding="utf-8")
    return root


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
