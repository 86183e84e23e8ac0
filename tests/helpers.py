"""The tests' setup in one place: tiny offline models of each architecture, tiny data folders in the original
layouts, and the overrides of a run on them. Plain functions, for the places a fixture cannot reach (a module-scoped
fixture, a parametrize list, a subprocess's command line); tests/conftest.py wraps them as session fixtures.

Every builder seeds its own weights, so a model built twice is the same model: numbers asserted on it do not depend
on which test built it first."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

CORPUS = [
    "Dwoje dzieci wspina się po ściance wspinaczkowej .",
    "Mężczyzna gra na gitarze na scenie .",
    "Kobieta kroi cebulę w kuchni .",
    "Pies biegnie po plaży za piłką .",
    "A man is playing the guitar on stage.",
    "Zażółć gęślą jaźń, 123!",
]

SPLITS = {"train": "CDS_train.txt", "trial": "CDS_trial.txt", "test": "CDS_test_annotated.txt"}
UNREADABLE = "not\ta\tvalid\tfile\n"  # a test split that training must never open


# -- tiny models -------------------------------------------------------------------------------------------------

# the shape every tiny encoder shares; a test that needs another changes one of these by name
TINY_SHAPE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def _bert_vocab() -> list[str]:
    chars = sorted(set(string.ascii_letters + string.digits + string.punctuation + "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ"))
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]


def save_bert(directory: Path, vocab: tuple[str, ...] | None = None, tokenizer_json: bool = True,
              **overrides) -> Path:
    """A BERT with a cased character WordPiece vocabulary (or ``vocab``); ``tokenizer_json=False`` leaves only
    vocab.txt and a tokenizer_config.json naming BertTokenizer, so the tokenizer is built from vocab.txt."""
    import torch
    from transformers import BertConfig, BertModel

    vocab = list(vocab) if vocab is not None else _bert_vocab()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    if tokenizer_json:
        from tokenizers import BertWordPieceTokenizer
        from transformers import BertTokenizerFast

        wordpiece = BertWordPieceTokenizer(str(directory / "vocab.txt"), lowercase=False, strip_accents=False)
        tokenizer = BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                      cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", do_lower_case=False)
        tokenizer.save_pretrained(directory)
    else:
        (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer",
                                                                     "do_lower_case": False}), encoding="utf-8")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), **{**TINY_SHAPE, "max_position_embeddings": 128, **overrides})
    BertModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def save_roberta(directory: Path, **overrides) -> Path:
    import torch
    from transformers import RobertaConfig, RobertaModel

    from tests.hub_replica import roberta_bpe_tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = roberta_bpe_tokenizer(CORPUS * 5)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(1)
    config = RobertaConfig(vocab_size=len(tokenizer),
                           **{**TINY_SHAPE, "max_position_embeddings": 130, "pad_token_id": 1, **overrides})
    RobertaModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def save_xlmr(directory: Path, **overrides) -> Path:
    import torch
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
    config = XLMRobertaConfig(vocab_size=len(tokenizer), **{**TINY_SHAPE, "max_position_embeddings": 130,
                                                             "pad_token_id": tokenizer.pad_token_id, **overrides})
    XLMRobertaModel(config).save_pretrained(directory, safe_serialization=True)
    return directory


def save_qwen3(directory: Path, **overrides) -> Path:
    """A tiny Qwen3 with Qwen3-Embedding's tokenizer behaviour (appends <|endoftext|>) and a sentence-transformers
    pipeline pooling the last token, as Qwen3-Embedding's 1_Pooling does."""
    import torch
    from transformers import Qwen3Config, Qwen3Model

    from tests.hub_replica import qwen_tokenizer

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = qwen_tokenizer(CORPUS * 5)
    tokenizer.save_pretrained(directory)
    torch.manual_seed(3)
    config = Qwen3Config(vocab_size=len(tokenizer), **{
        **TINY_SHAPE, "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 128,
        "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id, **overrides})
    Qwen3Model(config).save_pretrained(directory)
    (directory / "1_Pooling").mkdir()
    (directory / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": config.hidden_size,
                                                                    "pooling_mode_lasttoken": True}))
    (directory / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    return directory


def save_sbert(directory: Path, transformer_dir: Path) -> Path:
    """A tiny sentence-transformers pipeline (Transformer -> mean Pooling -> Normalize) over a saved encoder."""
    from sentence_transformers import SentenceTransformer

    from bench.models.loading import st_modules

    models = st_modules()
    transformer = models.Transformer(str(transformer_dir), max_seq_length=32)
    dim = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    pooling = models.Pooling(dim(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu").save(str(directory))
    return directory


BUILDERS = {"bert": save_bert, "roberta": save_roberta, "xlmr": save_xlmr, "qwen3": save_qwen3}


# -- tiny data ---------------------------------------------------------------------------------------------------

def write_sick_like(path: Path, rows: list[tuple]) -> Path:
    """A file in the CDSCorpus / SICK-PL layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"]
    lines += ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_cdscorpus(root: Path, train: list[tuple] | str | None = None, trial: list[tuple] | str | None = None,
                    test: list[tuple] | str | None = None) -> Path:
    """A data root whose cdscorpus/ holds the splits given: rows in the SICK layout, or a string written as it is
    (a file that must never be read); a split not given has no file."""
    for split, content in (("train", train), ("trial", trial), ("test", test)):
        path = root / "cdscorpus" / SPLITS[split]
        if isinstance(content, str):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        elif content is not None:
            write_sick_like(path, content)
    return root


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


OPPOSITE = {"kot": "pies", "pies": "kot", "dom": "las", "las": "dom"}


def cross_rows(n: int, seed: int) -> list[tuple]:
    """Pairs of keywords: the same one: relatedness 5, ENTAILMENT; its opposite: 0, CONTRADICTION; another: 1,
    NEUTRAL. A cross-encoder must compare the two segments (the label is in neither sentence alone)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first = rng.choice(KEYWORDS)
        second = [first, OPPOSITE[first], rng.choice([k for k in KEYWORDS if k not in (first, OPPOSITE[first])])][i % 3]
        rows.append((i, first, second, [5.0, 0.0, 1.0][i % 3], ["ENTAILMENT", "CONTRADICTION", "NEUTRAL"][i % 3]))
    return rows


def train_data(root: Path, test: list[tuple] | str = UNREADABLE) -> Path:
    """The training data: 256 synthetic training pairs (seed 0), 80 validation pairs (seed 1), and a test split
    that is unreadable garbage unless given (training must never open it)."""
    return write_cdscorpus(root, train=synthetic_rows(256, 0), trial=synthetic_rows(80, 1), test=test)


# -- runs on them ------------------------------------------------------------------------------------------------

def tiny_overrides(model, root, *extra: str, task: str | None = "cdsc_r") -> tuple[str, ...]:
    """The overrides of a run of the model folder ``model`` (at most 64 tokens) on ``task`` (none: the caller
    names it, or the default suite) of the data root ``root``; ``extra`` last (a later override of a key wins)."""
    return ("model=hf", f"model.name_or_path={model}", "model.max_seq_length=64", *([f"task={task}"] if task else []),
            "data.check_rows=false", f"data.root={root}", *extra)


def train_cfg(make_cfg, tiny_models, root, tmp_path, *extra):
    """bench.train's config for the tiny BERT on ``root`` (models under tmp_path/models, no evaluation after)."""
    return make_cfg(*tiny_overrides(tiny_models["bert"], root), "+train=cdsc_r_cosent",
                    f"train.output_dir={tmp_path / 'models'}", "train.learning_rate=1e-3", "train.batch_size=16",
                    "train.eval_steps=8", "train.evaluate_after=false", "train.warmup_ratio=0", *extra)


def cross_cfg(make_cfg, tiny_models, root, tmp_path, *extra):
    """bench.cross's config for the tiny BERT on ``root`` (no task: the caller names it)."""
    cfg = make_cfg(*tiny_overrides(tiny_models["bert"], root, "+cross=pairs", "stats.bootstrap=200", *extra, task=None))
    cfg.cross.output_dir = str(tmp_path / "models")
    cfg.cross.learning_rate, cfg.cross.batch_size, cfg.cross.eval_steps = 3e-3, 16, 50
    cfg.cross.epochs, cfg.cross.warmup_ratio, cfg.cross.max_length = 14, 0.0, 16
    return cfg


def perturb_weights(folder) -> None:
    """The model's weights change in place (same folder, same settings): another model."""
    from safetensors.torch import load_file, save_file

    path = folder / "model.safetensors"
    tensors = load_file(path)
    name = next(k for k in tensors if k.endswith("word_embeddings.weight"))
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, path, metadata={"format": "pt"})


class Interrupted(Exception):
    """The machine went away (kill -9) in the middle of a training run."""


def train_killed_after_checkpoint(cfg, step: int, monkeypatch) -> None:
    """bench.train on ``cfg``, stopped as if the machine went away right after checkpoint-``step`` was written
    (the rest of the run's monkeypatches are undone with it)."""
    import pytest

    from bench.train import loop
    from bench.train.callbacks import ElapsedTime

    class KilledAfterCheckpoint(ElapsedTime):
        def on_save(self, args, state, control, **kwargs):
            super().on_save(args, state, control, **kwargs)
            if state.global_step == step:
                raise Interrupted

    monkeypatch.setattr(loop, "ElapsedTime", KilledAfterCheckpoint)
    with pytest.raises(Interrupted):
        loop.train(cfg)
    monkeypatch.undo()
