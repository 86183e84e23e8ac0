"""Settings ids pinned by value: a change of layout, of a module's path or of a config's ``_target_`` must not
change a result's identity (results already on disk would stop being reused and stop being compared). The ids
were computed before the restructuring of the package and must never change without a deliberate reason."""

import pytest

from bench.config import compose_config
from bench.identity import identify
from bench.plan import plan

SUITE = ("cdsc_r", "cdsc_e", "sick_r_pl", "sick_e_pl", "ppc", "stsb_multi_mt.pl")
PINNED = {
    "default": ([], dict(zip(SUITE, ("ea20ad9f6d", "41fd75bf2c", "76497b26c1", "b5e2d799a2", "60c858c9e7",
                                      "a1fb68ed88")))),
    "mean": (["pooling=mean"], dict(zip(SUITE, ("4add44a4e7", "641b8345d9", "60018be874", "dfaee4704c",
                                                 "08ef16bfe7", "689c724447")))),
    "pca": (["pooling=mean", "compression=pca", "compression.dims=64", "task=cdsc_r"], {"cdsc_r": "360b2d536b"}),
    "probe": (["pooling=mean", "probe=relatedness", "task=cdsc_r"], {"cdsc_r": "053a0806aa"}),
    "labels": (["task=ppc", "task.target.positive=[1]"], {"ppc": "abdca1ea24"}),
    "layers": (["pooling=cls", "pooling.layers=[-2]", "task=sick_r_pl", "stats.bootstrap=100"],
               {"sick_r_pl": "1e7cdd3ea3"}),
}


@pytest.mark.parametrize("case", PINNED)
def test_settings_ids_are_pinned(case, data_root, tmp_path):
    overrides, expected = PINNED[case]
    cfg = compose_config(["model=minilm", *overrides, f"data.root={data_root}", f"results_dir={tmp_path}"])
    planned = plan(cfg)
    identities = identify(planned)
    assert {name: identity.settings_id for name, identity in identities.items()} == expected
    for name, identity in identities.items():  # the path: model / revision / strategy / settings id
        assert identity.path.relative_to(tmp_path).parts[:4] == (
            "sentence-transformers__all-MiniLM-L6-v2", "8b3219a92973c328a8e22fadcfa821b5dc75636a", planned.strategy,
            expected[name])
