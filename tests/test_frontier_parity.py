"""The models at the top of the Polish tables, each family through the real hub code path on its offline
replica (tests/hub_replica.py), against MTEB's own wrapper for it (``mteb.get_model(name, revision)``: its
loader, prompt or instruction and template) loaded from the same replica and run by ``mteb`` on CDSC-R."""

import pytest
import torch

from bench.run import run
from tests.hub_replica import MODEL_REPOS

pytestmark = pytest.mark.slow  # whole runs of MTEB and bench

mteb = pytest.importorskip("mteb")

STS_INSTRUCTION = "Retrieve semantically similar text."  # MTEB's default instruction for STS tasks
#: config -> (MTEB's registry name, loader kwargs that differ from MTEB's defaults, the prompt bench must use)
FAMILIES = {
    # MTEB loads it in fp16 (model_kwargs dtype float16); fp32 here, as bench's default
    "multilingual_e5_large_instruct": ({"model_kwargs": {"dtype": torch.float32}},
                                       f"Instruct: {STS_INSTRUCTION}\nQuery: "),
    "qwen3_embedding_0_6b": ({}, f"Instruct: {STS_INSTRUCTION}\nQuery:"),  # the decoder: last-token pooling
    # the 4B and 8B: the same family's loader and template, each at its own pinned revision and replica
    "qwen3_embedding_4b": ({}, f"Instruct: {STS_INSTRUCTION}\nQuery:"),
    "qwen3_embedding_8b": ({}, f"Instruct: {STS_INSTRUCTION}\nQuery:"),
    "bge_m3": ({}, ""),
    "mmlw_roberta_large": ({}, ""),
    "static_similarity_mrl_multilingual": ({}, ""),  # a static embedding: MTEB's loader runs it on the CPU
    # model2vec's layout, which MTEB runs through sentence-transformers; its registry pins 73908c3, the results 38ebd7f
    "potion_multilingual_128m": ({}, ""),
    # its repository's own prompts (MTEB's entry gives none), by MTEB's rule: STS has no prompt type, so 'STS'
    "embeddinggemma_300m": ({}, "task: sentence similarity | query: "),
    # MTEB: trust_remote_code, add_eos_token=True, bf16 (fp32 here); bench: model.append_eos and, asked, trust
    "gte_qwen2_7b_instruct": ({"model_kwargs": {"dtype": torch.float32}}, f"Instruct: {STS_INSTRUCTION}\nQuery: "),
}


def mteb_model(config: str, kwargs: dict):
    """MTEB's own wrapper of the model at the config's revision. mmlw-roberta-large's published numbers carry
    revision b8058066, which the installed registry has replaced (it pins 36ff7df), and potion-multilingual-128M's
    carry 38ebd7f (the registry pins 73908c3): the registry's entry, loader and all, at the published revision."""
    repo = MODEL_REPOS[config]
    meta = mteb.get_model_meta(repo.repo_id)
    if meta.revision == repo.commit:
        return mteb.get_model(repo.repo_id, repo.commit, device="cpu", **kwargs)
    return meta.model_copy(update={"revision": repo.commit}).load_model(device="cpu", **kwargs)


@pytest.mark.parametrize("config", sorted(FAMILIES))
def test_bench_equals_mteb_wrapper_on_cdsc_r(make_cfg, data_root, hub_models, tmp_path, config):
    from bench.tasks.mteb import mteb_tasks

    kwargs, prompt = FAMILIES[config]
    result = mteb.evaluate(mteb_model(config, kwargs), mteb_tasks(str(data_root), {"cdsc_r"}), cache=None,
                           show_progress_bar=False)
    theirs = result.task_results[0].scores["test"][0]
    trust = ("model.trust_remote_code=true",) if MODEL_REPOS[config].remote_code else ()
    (record,) = run(make_cfg(f"model={config}", "task=cdsc_r", f"data.root={data_root}", "pooling=sbert",
                             "stats.bootstrap=0", f"cache.dir={tmp_path / 'cache'}", *trust))
    assert record["bench"]["model"]["resolved_revision"] == MODEL_REPOS[config].commit
    assert record["bench"]["encoding"]["prompt"] == prompt == record["bench"]["settings"]["model"]["prompt"]
    ours = record["scores"]["test"][0]
    for key in ("main_score", "cosine_spearman", "cosine_pearson", "euclidean_spearman", "manhattan_pearson"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-4), key
