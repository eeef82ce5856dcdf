"""Disco Diffusion v5.2 and v5.7 settings files: every frame of the plan gets the value DD computed."""
from __future__ import annotations

import json

import numpy as np
import pytest
from dd_reference import dd_parse_key_frames, dd_schedule
from interop.planning import assert_close, import_override, plan_imported, prompts_at
from interop.shapes import dd_v52, dd_v57, write_json
from support import run_main

from render.config.issues import ConfigErrors
from render.interop.importers import import_file
from render.interop.source import ImportContext
from transforms.prompts import parse_prompt

SCHEDULES = ("angle", "zoom", "translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y",
             "rotation_3d_z", "fov")
MOVES = {"zoom": "0: (1), 10: (1.05), 25: (0.98)", "translation_x": "0: (-3.5), 30: (2)",
         "translation_z": "0: (10.0), 12: (4), 60: (0)", "rotation_3d_y": "5: (1.5), 20: (-0.25)",
         "rotation_3d_z": "0: (0), 20 : (9), 30: (2)", "angle": "0.5", "fov": 55}
SMALL = {"width": 256, "height": 128, "max_frames": 40}


def dd_prompts_at(prompts: dict, frame: int) -> list:
    """DD's split_prompts: the list of the last key at or before the frame (the first key's before it)."""
    keys = sorted(int(k) for k in prompts)
    key = max([k for k in keys if k <= frame], default=keys[0])
    return [(p.text, p.weight) for p in map(parse_prompt, prompts[str(key)])]


@pytest.mark.parametrize("shape", [dd_v52, dd_v57])
def test_every_frame_gets_dds_value(tmp_path, shape):
    data = shape(**MOVES, **SMALL, text_prompts={"0": ["a lighthouse:2", "yellow"], "12": ["a storm:-1", "waves:3"]})
    path = write_json(tmp_path / "TimeToDisco(3)_settings.txt", data)
    plan, report = plan_imported(path, "animation.mode=3d", "generator=preview")
    assert plan.n_frames == 40 and (plan.width, plan.height) == (256, 128) and plan.seed == data["seed"]
    for name in SCHEDULES:
        expected = dd_schedule(str(data[name]), 40)[:40]  # DD's get_inbetweens under DD's rules
        assert_close(plan.schedules[f"animation.{name}"], expected, name)
    for frame in range(40):
        assert prompts_at(plan.text_prompts, frame) == dd_prompts_at(data["text_prompts"], frame)
    assert {e.source for e in report.approximated} >= {"translation_z", "rotation_3d_z"}  # the squeeze, the dropped key
    assert not report.unknown
    mapped = {e.source for e in report.mapped} | {e.source for e in report.approximated}
    covered = set().union(*(s.split(", ") for s in mapped)) | {e.source for e in report.dropped}
    assert set(data) <= covered  # every key DD writes is mapped or dropped with a reason


def test_dds_quirks_are_reproduced_and_reported(tmp_path):
    # DD ignores a key written "20 : (9)" and squeezes keys past the last frame into it
    assert dd_parse_key_frames("0: (0), 20 : (9), 30: (2)") == {0: "0", 30: "2"}
    data = dd_v57(**SMALL, translation_z="0: (10.0), 12: (4), 60: (0)", rotation_3d_z="0: (0), 20 : (9), 30: (2)")
    imported = import_file(write_json(tmp_path / "s.txt", data), ImportContext(mode="3d"))
    how = {e.source: e.how for e in imported.report.approximated}
    assert "squeezed" in how["translation_z"] and "space before its colon" in how["rotation_3d_z"]
    assert imported.settings["animation.translation_z"] == "0: (10), 12: (4), 39: (0)"


def test_untidy_files_are_read(tmp_path):
    data = dd_v52(**SMALL, turbo_steps="4", turbo_mode=True, steps="150", frames_skip_steps="55%", zoom=None,
                  angle="1.5", cut_overview="[14]*300+[6]*700", cut_ic_pow=2, init_image="None", seed="77")
    path = write_json(tmp_path / "Batch-7_settings.txt", data, trailing_comma=True)
    plan, report = plan_imported(path, "animation.mode=3d", "generator=preview")
    imported = import_file(path, ImportContext(mode="3d"))
    s = imported.settings
    assert (s["animation.turbo_steps"], s["model.steps"], s["model.frames_skip_steps"], s["seed"]) == (4, 150, "55%",
                                                                                                       77)
    assert s["model.cut_overview"] == "[14]*300+[6]*700" and s["model.cut_ic_pow"] == "2"
    assert s["model.cut_innercut"] is None  # DD's default: the model's own (the same schedule)
    assert s["batch_name"] == "Batch" and s["init_image"] is None and "animation.zoom" not in s
    assert "zoom" in {e.source for e in report.dropped}
    assert_close(plan.schedules["animation.angle"], np.full(40, 1.5), "angle")


def test_the_mode_comes_from_the_command_line_a_forks_key_or_dds_default(tmp_path):
    path = write_json(tmp_path / "a.txt", dd_v57(**SMALL))
    plan, report = plan_imported(path, "generator=preview")  # DD's default None: stills, max_frames unused
    assert plan.n_frames == 1 and "max_frames" in {e.source for e in report.dropped}
    assert any("animation.mode=" in e.how for e in report.approximated)
    fork = write_json(tmp_path / "b.txt", dd_v57(**SMALL, animation_mode="2D", my_fork_setting=3))
    plan, report = plan_imported(fork, "generator=preview")
    assert plan.n_frames == 40 and "animation.zoom" in plan.schedules
    assert [e.source for e in report.unknown] == ["my_fork_setting"]
    assert "my_fork_setting" in report.markdown()


def test_models_clips_and_depth_map_and_pass_the_planner(tmp_path):
    data = dd_v57(**SMALL, ViTL14=True, RN50=False, ViTB32_laion2b_e16=True, midas_depth_model="midas_v21_small",
                  midas_weight=0.5, diffusion_model="pixel_art_diffusion_soft_256", cut_overview="[2]*1000")
    imported = import_file(write_json(tmp_path / "s.txt", data), ImportContext(mode="3d"))
    s = imported.settings
    assert s["model.clip_models"] == ["ViT-B-32:openai", "ViT-B-16:openai", "ViT-L-14:openai", "ViT-B-32:laion2b_e16"]
    assert (s["depth.name"], s["depth.midas_weight"]) == ("midas_small", 0.5)
    assert s["model.cut_overview"] is None  # DD replaced it with the finetune's own
    plan, _ = plan_imported(tmp_path / "s.txt", "animation.mode=2d", "model.models_dir=" + str(tmp_path))
    assert plan.diffusion is not None and plan.n_frames == 40  # model=auto: the tiny fallback without the files


def test_a_bad_keyframe_is_an_error_naming_its_key(tmp_path):
    path = write_json(tmp_path / "s.txt", dd_v57(**SMALL, zoom="0: (1), 10: (fast)"))
    with pytest.raises(ConfigErrors) as err:
        plan_imported(path, "animation.mode=2d")
    assert "zoom" in str(err.value) and "fast" in str(err.value) and "import_settings" in str(err.value)


def test_a_file_of_no_known_format_is_a_named_error_with_exit_status_2(tmp_path):
    with pytest.raises(ConfigErrors, match="none of the formats"):
        plan_imported(write_json(tmp_path / "x.json", {"hello": 1}))
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigErrors, match="none of the formats"):
        plan_imported(tmp_path / "list.json")
    result = run_main(import_override(tmp_path / "missing.txt"), f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "import_settings" in result.stderr and "Traceback" not in result.stderr


def test_images_beside_the_file_are_found_others_dropped_urls_kept(tmp_path):
    from PIL import Image

    Image.new("RGB", (64, 64), "red").save(tmp_path / "init.png")
    data = dd_v57(**SMALL, init_image="init.png",
                  image_prompts={"0": ["init.png:2", "/content/drive/gone.png", "https://example.com/a.png:0.5"]})
    imported = import_file(write_json(tmp_path / "s.txt", data), ImportContext(mode="2d"))
    assert imported.settings["init_image"] == str((tmp_path / "init.png").resolve())
    assert imported.settings["image_prompts"] == {0: [f"{tmp_path.resolve() / 'init.png'}:2",
                                                      "https://example.com/a.png:0.5"]}
    assert "image_prompts: /content/drive/gone.png" in {e.source for e in imported.report.dropped}
    url = import_file(write_json(tmp_path / "u.txt", dd_v57(init_image="https://example.com/i.png")))
    assert url.settings["init_image"] == "https://example.com/i.png"
