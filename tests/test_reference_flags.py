"""The published table (bench/reports/reference/published.yaml): the frontier models' numbers, each with its source,
and flags on numbers a researcher should not trust as zero-shot results."""

import dataclasses
from types import SimpleNamespace

import pytest

from bench.reports.reference import _differences, implausible, published_markdown, published_scores


def _one(model: str, task: str, subset: str = "default"):
    (found,) = [p for p in published_scores() if p.model == model and p.task == task and p.subset == subset
                and p.revision is not None]
    return found


def test_frontier_models_are_in_the_table_at_their_pinned_revisions(make_cfg):
    from bench.models.spec import ModelSpec

    for config in ("multilingual_e5_large_instruct", "qwen3_embedding_0_6b", "qwen3_embedding_4b",
                   "qwen3_embedding_8b", "bge_m3", "mmlw_roberta_large", "static_similarity_mrl_multilingual",
                   "potion_multilingual_128m", "gte_qwen2_7b_instruct", "embeddinggemma_300m"):
        spec = ModelSpec.from_config(make_cfg(f"model={config}").model)
        assert any(p.model == spec.hub_id and p.revision == spec.revision for p in published_scores()), config
    e5 = _one("intfloat/multilingual-e5-large-instruct", "CDSC-R")
    assert e5.score == 0.9235 and e5.prompts is None and "f4cc6c8b" in e5.source
    assert implausible(e5) == ()
    gemma = _one("google/embeddinggemma-300m", "PpcPC")  # FRONTIER-FACTS §1.3: 90.86
    assert gemma.score == 0.9086 and gemma.prompts is None and gemma.max_seq_length == 2048


def test_a_language_far_below_the_same_runs_others_is_flagged():
    qwen = _one("Qwen/Qwen3-Embedding-0.6B", "STSBenchmarkMultilingualSTS", "pl")
    (flag,) = implausible(qwen)
    assert flag.startswith("pl 37.47 against en 65.18, pt 84.12") and "broken run" in flag
    assert implausible(dataclasses.replace(qwen, score=0.70)) == ()  # within 15 points of its best language (84.12)


def test_training_data_holding_the_task_or_its_original_is_flagged():
    sick = _one("Gameselo/STS-multilingual-mpnet-base-v2", "SICK-R-PL")
    flags = implausible(sick)
    assert flags[0].startswith("declared training data includes SICK-R (the original of SICK-R-PL")
    assert flags[1] == "14.3 points above every zero-shot model in this table"  # mmlw-roberta-large's 79.91 next
    cdsc = _one("Gameselo/STS-multilingual-mpnet-base-v2", "CDSC-R")  # not trained on CDSC, still far ahead
    # gte-Qwen2-7B-instruct's 92.66 (its external folder) next
    assert implausible(cdsc) == ("5.0 points above every zero-shot model in this table",)


def test_unrecorded_prompt_is_a_reason_not_a_match():
    e5 = _one("intfloat/multilingual-e5-large-instruct", "CDSC-R")
    result = SimpleNamespace(meta={}, model={"max_seq_length": 512}, strategy="sbert", task_type="sts",
                             prompt="Instruct: Retrieve semantically similar text.\nQuery: ")  # what Result gives
    reasons = _differences(e5, result, e5.revision)
    assert reasons == ["the published run's prompt is not recorded", "published without a dataset revision"]
    bge = _one("BAAI/bge-m3", "PpcPC")  # recorded: none
    assert _differences(bge, SimpleNamespace(**{**vars(result), "prompt": "", "task_type": "pair_classification",
                                                "model": {"max_seq_length": 8192}}), bge.revision) == [
        "published without a dataset revision"]


def test_published_markdown_lists_every_number_with_its_flags():
    text = published_markdown()
    assert text.count("\n") == len(published_scores()) + 2
    assert "| Qwen/Qwen3-Embedding-4B | 636cd9b | PpcPC | 95.26 |  |" in text
    assert text.count("⚠") == sum(len(implausible(p)) for p in published_scores()) >= 6


@pytest.mark.parametrize("field", ["score", "task"])
def test_every_published_entry_has_a_source(field):
    for published in published_scores():
        assert getattr(published, field) and published.source.startswith("embeddings-benchmark/results: results/")
