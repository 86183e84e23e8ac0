"""Faults of a shared research machine (issue 25): partial checkpoints, full disks, read-only folders, shared
caches, concurrent sweeps. Each test builds the fault and asserts that nothing computed is lost, no traceback
reaches the user, and the exit status is right."""

from __future__ import annotations

import json
import logging

import pytest

from bench.train.callbacks import ElapsedTime, latest_checkpoint

# -- 1. checkpoints ---------------------------------------------------------------------------------------------

def _fake_checkpoint(folder, step: int):
    """A checkpoint as the trainer leaves it: weights, optimizer, state written last."""
    import numpy as np
    import torch
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(folder / "model.safetensors"))
    torch.save({"step": step}, folder / "optimizer.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


@pytest.mark.parametrize("cut", ["no_state", "state_truncated", "weights_truncated", "optimizer_truncated",
                                 "no_weights"])
def test_a_partial_checkpoint_is_skipped_for_the_last_complete_one(tmp_path, caplog, cut):
    good = _fake_checkpoint(tmp_path / "checkpoint-8", 8)
    partial = _fake_checkpoint(tmp_path / "checkpoint-16", 16)
    if cut == "no_state":  # kill -9 while saving: the trainer writes its state last
        (partial / "trainer_state.json").unlink()
    elif cut == "state_truncated":
        (partial / "trainer_state.json").write_text('{"global_st')
    elif cut == "weights_truncated":  # disk full while writing the weights
        data = (partial / "model.safetensors").read_bytes()
        (partial / "model.safetensors").write_bytes(data[: len(data) - 10])
    elif cut == "optimizer_truncated":
        data = (partial / "optimizer.pt").read_bytes()
        (partial / "optimizer.pt").write_bytes(data[: len(data) // 2])
    else:
        (partial / "model.safetensors").unlink()
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) == str(good)
    assert "ignoring the incomplete checkpoint" in caplog.text and "checkpoint-16" in caplog.text
    assert partial.is_dir()  # never deleted: it may be a save still in progress


def test_no_complete_checkpoint_starts_over(tmp_path, caplog):
    (tmp_path / "checkpoint-4").mkdir()
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "absent") is None
    assert "checkpoint-4" in caplog.text


class Interrupted(Exception):
    pass


@pytest.mark.slow
def test_training_resumes_from_the_last_complete_checkpoint(make_cfg, tiny_models, train_root, tmp_path, monkeypatch):
    """kill -9 while checkpoint-16 is being saved: the rerun resumes from checkpoint-8 and finishes."""
    from bench.train import loop
    from bench.train.loop import train
    from tests.test_train import train_cfg

    class KilledAfterCheckpoint16(ElapsedTime):
        def on_save(self, args, state, control, **kwargs):
            super().on_save(args, state, control, **kwargs)
            if state.global_step == 16:
                raise Interrupted

    cfg = train_cfg(make_cfg, tiny_models, train_root, tmp_path, "train.max_steps=24")
    monkeypatch.setattr(loop, "ElapsedTime", KilledAfterCheckpoint16)
    with pytest.raises(Interrupted):
        train(cfg)
    monkeypatch.undo()
    partial = next((tmp_path / "models").glob("*/checkpoints/checkpoint-16"))
    (partial / "trainer_state.json").unlink()  # the state is written last: the save was cut short
    weights = partial / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    summary = train(cfg)  # before: FileNotFoundError / SafetensorError traceback on every rerun
    assert summary["lineage"]["resumed_from"] == "checkpoint-8"
    assert summary["lineage"]["global_step"] == 24
    assert list((tmp_path / "models").glob("*/model/bench_lineage.json"))  # the trained model is saved
