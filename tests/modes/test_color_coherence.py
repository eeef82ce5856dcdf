"""color_coherence: inits matched to frame 0's colours; drift of a synthetic drifting chain is reduced."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from render.config.plan import FrameParams
from render.disk.quantize import frame_to_image, image_to_frame
from render.modes.color_coherence import (
    ColorCoherentMode,
    match_colors,
    with_color_coherence,
)
from render.modes.mode2d import Mode2D
from render.output.quality import color_drift_series

IDENTITY = {"animation.angle": 0.0, "animation.zoom": 1.0, "animation.translation_x": 0.0,
            "animation.translation_y": 0.0}


def textured(seed: int = 0, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((size, size, 3), dtype=np.float32), (0, 0), 3)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (40 + noise * 170).astype(np.uint8)


def drift(image: torch.Tensor) -> torch.Tensor:
    """One frame's worth of colour drift: warmer, more contrast, a little darker in blue."""
    gain = torch.tensor([1.03, 1.0, 0.97]).view(1, 3, 1, 1)
    return ((image - 0.5) * 1.02 * gain + 0.5 + torch.tensor([0.01, 0.0, -0.006]).view(1, 3, 1, 1)).clamp(0, 1)


def run_chain(space: str, n: int = 30) -> list[np.ndarray]:
    first = image_to_frame(textured())
    mode = with_color_coherence(Mode2D(lambda params: first), space)
    frames = []
    for f in range(n):
        params = FrameParams(frame=f, seed=f, values=IDENTITY)
        init = mode.prepare(params)
        frame = init.image if f == 0 else drift(init.image)
        frame = image_to_frame(frame_to_image(frame))
        frames.append(frame_to_image(mode.commit(frame, params)))
    return frames


def test_match_colors_moves_lab_statistics_to_the_reference():
    reference = textured(1)
    shifted = cv2.cvtColor(np.clip(cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(int) + [12, -10, 15], 0, 255)
                           .astype(np.uint8), cv2.COLOR_LAB2RGB)
    for space in ("lab", "hsv", "rgb"):
        matched = match_colors(shifted, reference, space)
        assert matched.dtype == np.uint8 and matched.shape == reference.shape
        drift_before = color_drift_series([reference, shifted])[0][1]
        drift_after = color_drift_series([reference, matched])[0][1]
        assert drift_before > 10
        assert drift_after < 0.2 * drift_before, (space, drift_before, drift_after)


@pytest.mark.parametrize("space", ["lab", "hsv", "rgb"])
def test_drift_of_a_drifting_chain_is_reduced(space):
    mean_none, std_none = color_drift_series(run_chain("none"))
    mean_cc, std_cc = color_drift_series(run_chain(space))
    assert mean_none[-1] > 15  # uncorrected, the drift accumulates frame after frame
    assert mean_cc[-1] < 0.25 * mean_none[-1], (space, mean_none[-1], mean_cc[-1])
    assert std_cc[-1] < 0.5 * std_none[-1], (space, std_none[-1], std_cc[-1])
    if space != "hsv":  # lab and rgb stay at about one frame's drift; hsv's 8-bit hue lets it creep (~1/10 as fast)
        assert mean_cc[-1] < 2.5 * max(mean_cc[1], 1.0)


def test_none_is_the_mode_itself_and_bad_spaces_are_refused():
    mode = Mode2D(lambda params: None)
    assert with_color_coherence(mode, "none") is mode
    with pytest.raises(ValueError, match="color_coherence='xyz'"):
        with_color_coherence(mode, "xyz")


def test_the_sample_survives_a_resume():
    frames = run_chain("lab", n=5)
    first = image_to_frame(textured())
    mode = ColorCoherentMode(Mode2D(lambda params: first), "lab")
    for f in range(3):
        params = FrameParams(frame=f, seed=f, values=IDENTITY)
        init = mode.prepare(params)
        mode.commit(image_to_frame(frames[f]), params)
    state = mode.state_dict()
    assert state["color_coherence_sample"].dtype == torch.uint8
    resumed = ColorCoherentMode(Mode2D(lambda params: None), "lab")
    resumed.load_state_dict(state, torch.device("cpu"))
    params = FrameParams(frame=3, seed=3, values=IDENTITY)
    assert torch.equal(resumed.prepare(params).image, mode.prepare(params).image)
    assert np.array_equal(resumed.sample[0].permute(1, 2, 0).numpy(), frames[0])
    assert init.from_previous


def test_setting_is_typed_and_wired(compose_config):
    from render.builders import build_mode
    from render.config.planner import plan_and_resolve
    from render.config.settings import to_settings

    settings = to_settings(compose_config("animation=2d_zoom", "model=tiny", "generator=preview",
                                          "color_coherence=hsv", "animation.max_frames=3"))
    mode = build_mode(settings, plan_and_resolve(settings)).mode
    assert isinstance(mode, ColorCoherentMode) and mode.space == "hsv"
    with pytest.raises(Exception, match="color_coherence"):
        compose_config("color_coherence=sepia")
