"""Watching a frame form: progress.png every K steps and partials/ at DD's intermediate_saves steps (model=tiny)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.disk.quantize import frame_to_image
from render.run.progress import StepImages, partial_steps

TINY_DIFFUSION = ["model=tiny", "width=128", "height=64", "animation.max_frames=2", "seed=7", "model.steps=10",
                  "output=png", "animation=2d_zoom", "output.quality=false",
                  "output.previews=false"]


def test_partial_steps_follow_dd_spacing():
    assert partial_steps(2, 10) == {3, 6}  # spc = max(1, 9 // 3) = 3; saved at j % 3 == 0, j > 0, the first 2
    assert partial_steps(3, 240) == {59, 118, 177}  # DD's 250 steps, skip_steps 10: spc = 239 // 4
    assert partial_steps(2, 4) == {1, 2}  # spc = max(1, 3 // 3)
    assert partial_steps(0, 10) == set()
    assert partial_steps([2, 5, 12], 10) == {2, 5}  # a step the frame does not reach is not written


def test_progress_and_partials_are_the_steps_predicted_images(compose_config, tmp_path, monkeypatch, one_thread):
    seen = []  # (frame, step, n_steps, pred_xstart) as the sampler produced them
    import render.generators.diffusion as diffusion

    original = diffusion.sample_ddim

    def recording(*args, **kwargs):
        for out in original(*args, **kwargs):
            seen.append(out.pred_xstart.clone())
            yield out

    monkeypatch.setattr(diffusion, "sample_ddim", recording)
    writes = []
    real_call = StepImages._write

    def spy(self, paths, image):
        writes.append((tuple(paths), image.copy()))
        real_call(self, paths, image)

    monkeypatch.setattr(StepImages, "_write", spy)
    cfg = compose_config(*TINY_DIFFUSION, "output.progress_every=3", "output.intermediate_saves=[2,5]",
                         "model.frames_skip_steps=60%")
    run = tmp_path / "run"
    render_animation(cfg, run, progress=False)

    # frame 0 runs 10 steps (j = 0..9), frame 1 runs 4 (60% of 10 skipped); `seen` numbers them 0..13
    assert len(seen) == 14
    partials = sorted(p.name for p in (run / "partials").iterdir())
    assert partials == ["00000_002.png", "00000_005.png", "00001_002.png"]
    expected = {0: ("progress.png",), 2: ("partials/00000_002.png",), 3: ("progress.png",),
                5: ("partials/00000_005.png",), 6: ("progress.png",), 9: ("progress.png",),  # 9: frame 0's last
                10: ("progress.png",), 12: ("partials/00001_002.png",), 13: ("progress.png",)}  # 13: j=3, last
    assert [paths for paths, _ in writes] == list(expected.values())
    for i, (paths, image) in zip(expected, writes):
        assert np.array_equal(image, frame_to_image(seen[i].add(1).div(2))), f"write {paths} is not step {i}'s x0"
    for i, name in ((2, "00000_002.png"), (5, "00000_005.png"), (12, "00001_002.png")):
        on_disk = np.asarray(Image.open(run / "partials" / name))
        assert np.array_equal(on_disk, frame_to_image(seen[i].add(1).div(2)))
    last = np.asarray(Image.open(run / "progress.png"))
    assert np.array_equal(last, frame_to_image(seen[13].add(1).div(2)))
    assert np.array_equal(last, np.asarray(Image.open(run / "frames" / "00001.png")))  # the last step is the frame


def test_nothing_is_written_by_default():
    saved = []
    images = StepImages(lambda path, image: saved.append(path))
    assert not images.active
    images(0, 0, 10, torch.zeros(1, 3, 8, 8))
    images.close()
    assert saved == []


@pytest.mark.parametrize("override, setting", [("output.progress_every=-1", "output.progress_every"),
                                               ("output.intermediate_saves=[3,10]", "output.intermediate_saves"),
                                               ("output.intermediate_saves=-2", "output.intermediate_saves")])
def test_bad_step_image_settings_are_named(compose_config, override, setting):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config(*TINY_DIFFUSION, override)))
    assert [i.setting for i in err.value.issues] == [setting]
