"""Deforum settings files of 2022 and 2023 and the Colab's: every frame of the plan gets the value Deforum computed."""
from __future__ import annotations

import re

import numexpr
import numpy as np
import pandas as pd
import pytest
from interop.planning import assert_close, normalised, plan_imported, prompts_at
from interop.shapes import (
    DEFORUM_VIDEO_2022,
    deforum_colab,
    deforum_early_2023,
    deforum_late_2022,
    deforum_mid_2023,
    write_json,
)

from render.config.issues import ConfigErrors
from render.interop.importers import import_file
from render.interop.source import ImportContext

MOTION = ("angle", "zoom", "translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y",
          "rotation_3d_z")
IS_NUMBER = re.compile(r"^(?=.)([+-]?([0-9]*)(\.([0-9]+))?)$")


def _clean(text: str) -> str:
    return text.replace("'", "").replace('"', "").replace("(", "").replace(")", "")


def deforum_values(text: str, max_frames: int, seed: int) -> np.ndarray:
    """Deforum's FrameInterpolater, re-stated: keys split at commas and colons (a key may be a numexpr expression of
    max_f, made an int), a number key blends linearly to the next key, an expression key is evaluated with numexpr on
    every frame until the next key; keys past the last frame are never reached."""
    names = {"max_f": max_frames - 1, "s": seed}
    keys = {}
    for piece in text.split(","):
        frame, value = piece.split(":")
        clean = _clean(frame.strip())
        keys[int(clean) if IS_NUMBER.match(clean) else int(numexpr.evaluate(frame.strip().strip("'\""),
                                                                           local_dict=names))] = value.strip()
    series = pd.Series([np.nan] * max_frames)
    value, is_number = None, None
    for i in range(max_frames):
        if i in keys:
            value = keys[i]
            is_number = IS_NUMBER.match(_clean(value))
            if is_number:
                series[i] = float(_clean(value))
        if not is_number:
            series[i] = float(numexpr.evaluate(value, local_dict={**names, "t": i}))
    series[0] = series[series.first_valid_index()]
    series[max_frames - 1] = series[series.last_valid_index()]
    return series.interpolate(method="linear", limit_direction="both").to_numpy()


def deforum_prompt_at(prompts: dict, frame: int) -> str:
    """Deforum's prompt series: the prompt of the last key at or before the frame (ffill, then bfill)."""
    keys = sorted(prompts, key=int)
    return prompts[max([k for k in keys if int(k) <= frame], default=keys[0], key=int)]


def expected_prompts(text: str) -> dict[str, float]:
    """The documented mapping: AND parts with their :weight, --neg parts negative, half the positive weight."""
    def parts(side):
        out = []
        for part in re.split(r"\s+AND\s+", side.strip()):
            match = re.match(r"^(.*?)\s*:\s*([\d.]+)\s*$", part)
            out.append((match.group(1).strip(), float(match.group(2))) if match else (part.strip(), 1.0))
        return [p for p in out if p[0]]
    positive, _, negative = text.partition("--neg")
    pos, neg = parts(positive), parts(negative)
    scale = 0.5 * sum(w for _, w in pos) / sum(w for _, w in neg) if neg else 0
    return normalised(pos + [(t, -w * scale) for t, w in neg])


def check_schedules(plan, data: dict, n_frames: int, seed: int, names=MOTION) -> None:
    for name in names:
        assert_close(plan.schedules[f"animation.{name}"], deforum_values(data[name], n_frames, seed), name)


def test_late_2022_with_fps_in_the_video_settings_file(tmp_path):
    data = deforum_late_2022(animation_mode="3D", max_frames=50, seed=1234,
                             translation_z="0:(10), 20:(0.5*t), 35:(2), 45:(2+sin(t/3))",
                             rotation_3d_y="0:(0), 10:(1.5), 30:(-1)", zoom="0:(1.02+0.02*sin(2*3.14*t/20))",
                             fov_schedule="0: (40), 49: (70)", diffusion_cadence="3", W=320, H=192)
    write_json(tmp_path / "20221201120000_video-settings.txt", DEFORUM_VIDEO_2022)
    path = write_json(tmp_path / "20221201120000_settings.txt", data)
    plan, report = plan_imported(path, "generator=preview")
    assert (plan.n_frames, plan.width, plan.height, plan.fps, plan.seed) == (50, 320, 192, 12.0, 1234)
    check_schedules(plan, data, 50, 1234)
    assert_close(plan.schedules["animation.fov"], deforum_values(data["fov_schedule"], 50, 1234), "fov")
    assert any("video-settings" in n for n in report.notes)
    assert any("holds no prompts" in n for n in report.notes)
    assert not report.unknown, report.unknown


def test_mid_2023_with_expression_keys_seed_and_prompts(tmp_path):
    data = deforum_mid_2023(max_frames=60, seed=7, W=256, H=128,
                            rotation_3d_y='0:(0), "max_f/2":(2*sin(t/5)), max_f-5:(1)',
                            translation_x="0:(s/10), 20:(0.1*t-3), 400:(3)",
                            zoom="0: (1.0025+0.002*sin(1.25*3.14*t/30))", translation_z="0: (1.75)",
                            fov_schedule="0: (70), 30: (50)",
                            prompts={"0": "a forest :2 AND a lake :1 --neg blurry, dark",
                                     "max_f/3": "a city at night", "45": "a storm --neg rain :1 AND fog :3"})
    path = write_json(tmp_path / "20230812221310_settings.txt", data)
    plan, report = plan_imported(path, "generator=preview")
    assert (plan.n_frames, plan.fps, plan.seed) == (60, 15.0, 7)
    check_schedules(plan, data, 60, 7)
    assert_close(plan.schedules["animation.fov"], deforum_values(data["fov_schedule"], 60, 7), "fov")
    for frame in range(60):
        text = deforum_prompt_at({"0": data["prompts"]["0"], str(int(59 / 3)): data["prompts"]["max_f/3"],
                                  "45": data["prompts"]["45"]}, frame)
        assert normalised(prompts_at(plan.text_prompts, frame)) == pytest.approx(expected_prompts(text))
    dropped = {e.source for e in report.dropped}
    assert {"sampler", "cn_1_weight", "hybrid_motion", "seed_schedule", "sd_model_name"} <= dropped
    assert {e.setting for e in report.mapped} >= {"animation.mode", "output.fps", "color_coherence", "depth.midas_weight"}
    assert "depth.name" in {e.setting for e in report.approximated}
    assert not report.unknown, report.unknown
    assert any("400" in n for n in report.notes)  # the key past the last frame, which Deforum ignored


def test_early_2023_2d(tmp_path):
    data = deforum_early_2023(max_frames=30, seed=3, W=256, H=128, angle="0:(0), 10:(t/4), 20:(5)",
                              translation_x="0:(2), 15:(-2)", zoom="0:(1.01)")
    plan, report = plan_imported(write_json(tmp_path / "e_settings.txt", data), "generator=preview")
    check_schedules(plan, data, 30, 3, ("angle", "zoom", "translation_x", "translation_y"))
    assert "diffusion_cadence" in {e.source for e in report.dropped}  # turbo is 3D only
    assert [p.text for p in plan.text_prompts.at(29)] == ["a forest"]  # the key at 60 lies past the last frame
    assert not report.unknown, report.unknown


def test_colab_with_width_height_and_animation_prompts(tmp_path):
    data = deforum_colab(animation_mode="3D", max_frames=45, seed=11, width=256, height=128,
                         translation_z="0:(5), 20:(1)", rotation_3d_x="0:(0.5*sin(t/4))")
    plan, report = plan_imported(write_json(tmp_path / "c_settings.txt", data), "generator=preview")
    assert (plan.width, plan.height) == (256, 128)
    check_schedules(plan, data, 45, 11)
    assert_close(plan.schedules["animation.fov"], np.full(45, 40.0), "fov")
    assert normalised(prompts_at(plan.text_prompts, 44)) == pytest.approx(
        expected_prompts("a portrait :2 AND a landscape :1 --neg blurry"))
    assert not report.unknown, report.unknown


def test_schedule_errors_name_their_key(tmp_path):
    for zoom, fragment in (("0:(foo(t))", "unknown function 'foo'"), ("0 (1)", "not 'frame: (value)'"),
                           ("0:(1), 10:(t <<2)", "LShift")):
        path = write_json(tmp_path / "s.txt", deforum_mid_2023(zoom=zoom))
        with pytest.raises(ConfigErrors) as err:
            plan_imported(path)
        assert "zoom" in str(err.value) and fragment in str(err.value)


def test_the_seed_of_s_comes_from_the_command_line_when_the_file_draws_one(tmp_path):
    path = write_json(tmp_path / "s.txt", deforum_mid_2023(seed=-1, translation_x="0:(s/100)"))
    with pytest.raises(ConfigErrors, match="s \\(the seed\\)"):
        plan_imported(path)
    imported = import_file(path, ImportContext(seed=300))
    assert imported.settings["animation.translation_x"] == "0: (300 / 100) step"
    assert imported.settings["seed"] is None
