"""The state files: a round trip with images stored once, the fallback past a corrupt newest state or image, keep."""
from __future__ import annotations

import logging

import pytest
import torch

from render.run.checkpoint import CheckpointError, Checkpoints, FrameState, rng_state


def state(frame: int, previous: torch.Tensor, first: torch.Tensor) -> FrameState:
    return FrameState(frame=frame, seed=1, config_hash="h", mode={"previous": previous, "first": first,
                                                                  "old": None}, rng=rng_state())


def image(value: int) -> torch.Tensor:
    return torch.full((1, 3, 128, 192), value, dtype=torch.uint8)


def test_round_trip_stores_each_image_once(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    for frame in range(3):
        checkpoints.save(state(frame, image(10 + frame), image(10)))
    assert len(list((tmp_path / "blobs").glob("*.u8"))) == 3  # frame 0's image is also every state's "first"
    read = Checkpoints.read(checkpoints.path(2))
    assert read.frame == 2 and read.mode["old"] is None
    assert torch.equal(read.mode["previous"], image(12)) and torch.equal(read.mode["first"], image(10))


def test_a_truncated_newest_state_falls_back_to_the_one_before(tmp_path, caplog):
    checkpoints = Checkpoints(tmp_path)
    for frame in range(3):
        checkpoints.save(state(frame, image(frame), image(0)))
    newest = checkpoints.path(2)
    newest.write_bytes(newest.read_bytes()[:200])
    with caplog.at_level(logging.WARNING):
        assert checkpoints.latest().frame == 1
    assert "corrupt or truncated" in caplog.text


def test_a_corrupt_or_missing_image_is_named_and_skipped(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(state(0, image(0), image(0)))
    checkpoints.save(state(1, image(1), image(0)))
    blob = next(p for p in (tmp_path / "blobs").glob("*.u8") if p.read_bytes()[-1] == 1)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x07")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        Checkpoints.read(checkpoints.path(1))
    assert checkpoints.latest().frame == 0
    blob.unlink()
    with pytest.raises(CheckpointError, match="is missing"):
        Checkpoints.read(checkpoints.path(1))


def test_keep_drops_old_states_and_their_images(tmp_path):
    checkpoints = Checkpoints(tmp_path, keep=2)
    for frame in range(5):
        checkpoints.save(state(frame, image(frame), image(0)))
    assert checkpoints.frames() == [3, 4]
    assert len(list((tmp_path / "blobs").glob("*.u8"))) == 3  # frames 3 and 4, and frame 0's "first"


def test_no_intact_state_is_an_error_naming_each_file(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(state(0, image(0), image(0)))
    checkpoints.path(0).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="(?s)no intact state file.*00000.state is not a state file"):
        checkpoints.latest()
