"""Each DD v5.7 diffusion model's own cut schedules and frame size, as DD sets them, unless the user sets them."""
from __future__ import annotations

import numpy as np
import pytest

from render.config.planner import plan_and_resolve
from render.config.settings import to_settings

# DD v5.7's values (disco.py: cut_*, pad_or_pulp_cut_*, watercolor_cut_*, width_height_for_*_models)
DEFAULT = ("[12]*400+[4]*600", "[4]*400+[12]*600", "[1]*1000", "[0.2]*400+[0]*600")
PULP_POW = "[12]*300+[12]*100+[12]*50+[12]*50+[10]*100+[10]*100+[10]*300"
PAD_OR_PULP = ("[15]*100+[15]*100+[12]*100+[12]*100+[6]*100+[4]*100+[2]*200+[0]*200",
               "[1]*100+[1]*100+[4]*100+[4]*100+[8]*100+[8]*100+[10]*200+[10]*200", PULP_POW,
               "[0.87]*100+[0.78]*50+[0.73]*50+[0.64]*60+[0.56]*40+[0.50]*50+[0.33]*100+[0.19]*150+[0]*400")
WATERCOLOR = ("[14]*200+[12]*200+[4]*400+[0]*200", "[2]*200+[4]*200+[12]*400+[12]*200", PULP_POW,
              "[0.7]*100+[0.6]*100+[0.45]*100+[0.3]*100+[0]*600")
TABLE = [  # model, cut schedules, (width, height)
    ("512x512_diffusion_uncond_finetune_008100", DEFAULT, (1280, 768)),
    ("256x256_diffusion_uncond", DEFAULT, (512, 448)),
    ("portrait_generator_v001", DEFAULT, (1280, 768)),
    ("pixelartdiffusion_expanded", PAD_OR_PULP, (512, 448)),
    ("pixel_art_diffusion_hard_256", PAD_OR_PULP, (512, 448)),
    ("pixel_art_diffusion_soft_256", PAD_OR_PULP, (512, 448)),
    ("pixelartdiffusion4k", PAD_OR_PULP, (512, 448)),
    ("watercolordiffusion_2", WATERCOLOR, (512, 448)),
    ("watercolordiffusion", WATERCOLOR, (512, 448)),
    ("PulpSciFiDiffusion", PAD_OR_PULP, (512, 448)),
]
CUTS = ("cut_overview", "cut_innercut", "cut_ic_pow", "cut_icgray_p")


def plan_for(compose_config, tmp_path, *overrides):
    # a named real preset with downloads on: the plan lists the missing files instead of falling back to tiny
    return plan_and_resolve(to_settings(compose_config("model=disco512", "model.download=true",
                                                   f"model.models_dir={tmp_path}", "animation.max_frames=2",
                                                   *overrides)))


def dd_values(text: str) -> np.ndarray:
    return np.array(eval(text), dtype=float)  # DD eval'd these strings; here only the test's own literals


@pytest.mark.parametrize("name,cuts,size", TABLE, ids=[row[0] for row in TABLE])
def test_each_model_gets_dds_schedules_and_size(compose_config, tmp_path, name, cuts, size):
    plan = plan_for(compose_config, tmp_path, f"model.diffusion_model={name}")
    model = plan.diffusion.model
    assert tuple(getattr(model, k) for k in CUTS) == cuts
    assert (plan.width, plan.height) == size
    resolved = plan.diffusion.cuts
    for key, array in zip(CUTS, (resolved.overview, resolved.innercut, resolved.ic_pow, resolved.icgray_p)):
        assert np.array_equal(array, dd_values(cuts[CUTS.index(key)])), key


def test_an_explicit_value_wins(compose_config, tmp_path):
    plan = plan_for(compose_config, tmp_path, "model.diffusion_model=PulpSciFiDiffusion",
                    'model.cut_overview="[3]*1000"', "model.width_height=[640,384]")
    model = plan.diffusion.model
    assert model.cut_overview == "[3]*1000" and model.cut_innercut == PAD_OR_PULP[1]  # only the one set
    assert (plan.width, plan.height) == (640, 384)
    plan = plan_for(compose_config, tmp_path, "model.diffusion_model=watercolordiffusion", "width=256")
    assert (plan.width, plan.height) == (256, 448)  # width set, height the model's


def test_preview_runs_use_the_models_size_too(compose_config):
    plan = plan_and_resolve(to_settings(compose_config("generator=preview", "animation.max_frames=2",
                                                   "model.diffusion_model=pixelartdiffusion4k")))
    assert (plan.width, plan.height) == (512, 448)
