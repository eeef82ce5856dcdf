"""The state files: a round trip with images stored once, the fallback past a corrupt newest state or image, keep; images
that are frames on disk referred to (a changed PNG named), the rest as differences; the format-1 layout still read."""
from __future__ import annotations

import logging

import pytest
import torch

from render.run.checkpoint import CheckpointError, Checkpoints, FramePngChanged, FrameState, rng_state


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


# --- images that are frames on disk (format 2) ----------------------------------------------------------------------

def frames_on_disk(root, n: int, size=(96, 160)) -> list[torch.Tensor]:
    """``n`` random frames saved as ``root/frames/{f:05d}.png``, as (1,3,H,W) uint8 tensors."""
    from render.disk.images import save_png_atomic

    generator = torch.Generator().manual_seed(7)
    images = [torch.randint(0, 256, (1, 3, *size), dtype=torch.uint8, generator=generator) for _ in range(n)]
    (root / "frames").mkdir(parents=True, exist_ok=True)
    for f, img in enumerate(images):
        save_png_atomic(img[0].permute(1, 2, 0).numpy(), root / "frames" / f"{f:05d}.png")
    return images


def test_an_image_that_is_a_frame_refers_to_its_png(tmp_path):
    images = frames_on_disk(tmp_path, 3, size=(256, 320))
    store = Checkpoints(tmp_path / "state")
    for f in range(3):
        store.save(state(f, images[f], images[0]))
    assert [store.frames_of(p) for p in store.files()] == [{0}, {0, 1}, {0, 2}]
    assert not (tmp_path / "state" / "blobs").exists()
    assert all(p.stat().st_size < images[0].numel() / 4 for p in store.files())
    read = Checkpoints.read(store.path(2))
    assert torch.equal(read.mode["previous"], images[2]) and torch.equal(read.mode["first"], images[0])


def test_an_image_near_its_frame_is_stored_as_its_difference(tmp_path):
    """Turbo's chains are close to the frame, not equal: a lossless PNG of the difference, read back bit-exact."""
    images = frames_on_disk(tmp_path, 2, size=(256, 320))
    near = (images[1].int() + torch.randint(-1, 2, images[1].shape)).clamp(0, 255).to(torch.uint8)
    store = Checkpoints(tmp_path / "state")
    store.save(state(1, near, images[0]))
    assert store.frames_of(store.path(1)) == {0, 1}
    assert store.path(1).stat().st_size < near.numel() / 2  # raw 8-bit would be numel bytes
    assert torch.equal(Checkpoints.read(store.path(1)).mode["previous"], near)


@pytest.mark.parametrize("damage", ["other pixels", "truncated"])
def test_a_changed_frame_png_is_named_not_skipped(tmp_path, damage):
    images = frames_on_disk(tmp_path, 3)
    store = Checkpoints(tmp_path / "state")
    for f in range(3):
        store.save(state(f, images[f], images[0]))
    png = tmp_path / "frames" / "00002.png"
    if damage == "truncated":
        png.write_bytes(png.read_bytes()[:300])
    else:
        from render.disk.images import save_png_atomic

        save_png_atomic(images[1][0].permute(1, 2, 0).numpy(), png)
    with pytest.raises(FramePngChanged, match=r"(?s)00002\.png changed since .*00002\.state.*resume_from=2"):
        store.latest()  # never the state before: that would render over the user's frame
    assert Checkpoints.read(store.path(1)).frame == 1
    assert issubclass(FramePngChanged, CheckpointError)


def test_a_missing_frame_png_falls_back_to_the_state_before(tmp_path, caplog):
    images = frames_on_disk(tmp_path, 3)
    store = Checkpoints(tmp_path / "state")
    for f in range(3):
        store.save(state(f, images[f], images[0]))
    (tmp_path / "frames" / "00002.png").unlink()
    with caplog.at_level(logging.WARNING):
        assert store.latest().frame == 1
    assert "00002.png, the frame 00002.state refers to, is missing" in caplog.text
    (tmp_path / "frames" / "00000.png").unlink()  # every state refers to frame 0: the run starts again
    assert store.latest() is None


def test_states_in_the_raw_blob_layout_of_format_1_still_load(tmp_path):
    """A state as every earlier version wrote it, made here from the format: magic 1, the payload's sha256, the
    payload; the image in blobs/<sha256 of shape and bytes>.u8 behind its own magic."""
    import hashlib
    import io

    image, small = torch.arange(3 * 128 * 192, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(
        1, 3, 128, 192), torch.full((1, 3, 8, 8), 9, dtype=torch.uint8)
    shape = b"1,3,128,192"
    name = hashlib.sha256(shape + b"\n" + image.numpy().tobytes()).hexdigest()
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / f"{name}.u8").write_bytes(b"DISCO-ANIM-BLOB 1 " + shape + b"\n" + image.numpy().tobytes())
    payload = io.BytesIO()
    torch.save({"frame": 4, "seed": 1, "config_hash": "h", "mode": {"previous": {"__blob__": name}, "old": small},
                "rng": rng_state()}, payload)
    data = payload.getvalue()
    (tmp_path / "00004.state").write_bytes(b"DISCO-ANIM-STATE 1\n" + hashlib.sha256(data).hexdigest().encode() +
                                           b"\n" + data)
    read = Checkpoints(tmp_path).latest()
    assert read.frame == 4 and torch.equal(read.mode["previous"], image) and torch.equal(read.mode["old"], small)
