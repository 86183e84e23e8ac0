"""Score-versus-dimension curves from real (tiny-model) compression results."""

import csv

import pytest

from bench.errors import BenchError
from bench.reports.curves import main, write_curves
from bench.run import run


@pytest.mark.slow
def test_curves_from_a_compression_sweep(make_cfg, tiny_models, tiny_data_root, tmp_path):
    base = ("model=hf", f"model.name_or_path={tiny_models['bert']}", "model.name=tiny", "model.max_seq_length=64",
            "task=cdsc_r", "data.check_rows=false", f"data.root={tiny_data_root}", "pooling=mean")
    expected = {}
    for extra in (["compression=none"], ["compression=truncate", "compression.dims=8"],
                  ["compression=truncate", "compression.dims=16"], ["compression=int8"], ["compression=binary"]):
        record = run(make_cfg(*base, *extra))[0]
        compression = record["bench"]["compression"]
        expected[(compression["method"], compression["bytes_per_vector"])] = record["scores"]["test"][0]["main_score"]
    paths = write_curves(tmp_path / "results", "tiny")
    rows = list(csv.DictReader(paths["csv"].open()))
    got = {(r["method"], int(r["bytes_per_vector"])): float(r["main_score"]) for r in rows}
    assert set(got) == {("none", 128), ("truncate", 32), ("truncate", 64), ("int8", 32), ("binary", 4)}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["png"].stat().st_size > 10_000


def test_curves_without_results_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(BenchError, match="no results with compression information for model 'x'"):
        write_curves(tmp_path, "x")
    assert main(["--results", str(tmp_path), "--model", "x"]) == 2
