"""Hostile values, generated: every case ends in a plan or in ConfigErrors naming a setting, never in another
exception; and image files (FIFOs, decompression bombs, corrupt PNGs, non-images) are refused before models load."""
from __future__ import annotations

import copy
import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from PIL import Image

from render.config.issues import ConfigErrors
from render.config.limits import (
    MAX_FRAMES,
    MAX_URL_MB,
    MAX_URL_TIMEOUT_S,
    float_settings,
)
from render.config.planner import plan_and_resolve
from render.config.schema import Config
from render.config.settings import to_settings

BASE = ["animation=2d_zoom", "generator=preview", "width=128", "height=64", "animation.max_frames=4", "seed=1"]
NUMBERS = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 1e400, 0.0, -1.0, 5e-324])
SCHEDULE_KEYS = st.sampled_from(["0", "1", "1e-300", "2", "10000000000", "1e308", "3", "0.5", "-1", "inf"])
SCHEDULE_VALUES = st.sampled_from(["1", "1e308", "nan", "inf", "-1e308", "1e15", "1e16", "t*1e300", "1", "2"])


def _names_a_setting(exc: ConfigErrors, changed: set[str]) -> bool:
    """Each issue names a setting, and one names a setting the case changed (others may follow from it)."""
    named = {issue.setting.split("[")[0] for issue in exc.issues}
    return all(named) and any(n.startswith(tuple(changed)) or any(c.startswith(n) for c in changed) for n in named)


_COMPOSED: dict[tuple[str, ...], object] = {}


def _config(compose_config, groups: tuple[str, ...], values: dict):
    """The composed config (each group combination composed once: Hydra is slow) with ``values`` set."""
    if groups not in _COMPOSED:
        _COMPOSED[groups] = compose_config(*BASE, *groups)
    cfg = copy.deepcopy(_COMPOSED[groups])
    for path, value in values.items():
        OmegaConf.update(cfg, path, value, merge=False, force_add=path.startswith("image_prompts"))
    return cfg


def _plan_or_named_error(compose_config, values: dict, changed: set[str] | None = None, groups=()):
    changed = changed or {k.split(".0")[0] for k in values}
    try:
        cfg = _config(compose_config, tuple(groups), values)
    except OmegaConfBaseException as exc:  # a value of the wrong type: OmegaConf names the key
        assert any(c.split(".")[-1] in str(exc) for c in changed), exc
        return None
    try:
        return plan_and_resolve(to_settings(cfg), None)
    except ConfigErrors as exc:
        assert _names_a_setting(exc, changed), (exc, changed)
        return exc


def test_every_float_setting_is_found():
    paths = {p for p, _ in float_settings(Config())}
    assert {"model.clip_guidance_scale", "animation.near_plane", "depth.flat_value"} <= paths


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(sorted(p for p, _ in float_settings(Config()) if "[" not in p)), value=NUMBERS)
def test_non_finite_floats_are_named(compose_config, path, value):
    result = _plan_or_named_error(compose_config, {path: value})
    if not (np.isfinite(value) and abs(value) <= 1e15) and result is not None:
        assert isinstance(result, ConfigErrors) and any(i.setting == path for i in result.issues), (path, value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(SCHEDULE_KEYS, min_size=1, max_size=4), values=st.lists(SCHEDULE_VALUES, min_size=4,
       max_size=4), spline=st.sampled_from(["linear", "cubic", "ease_in_out"]))
def test_hostile_schedules_end_in_a_finite_plan_or_a_named_error(compose_config, keys, values, spline):
    text = ", ".join(f"{k}: ({v})" for k, v in zip(keys, values))
    result = _plan_or_named_error(compose_config, {"animation.zoom": text, "animation.interp_spline": spline},
                                  {"animation.zoom"})
    if result is not None and not isinstance(result, ConfigErrors):
        zoom = result.schedules["animation.zoom"]
        assert np.all(np.isfinite(zoom)) and np.all(np.abs(zoom) <= 1e15), (text, zoom)


@pytest.mark.parametrize("values, setting", [
    ({"width": 100000}, "width"), ({"height": 20000}, "height"), ({"animation.max_frames": 1e9}, "animation.max_frames"),
    ({"animation.max_frames": MAX_FRAMES + 1}, "animation.max_frames"), ({"device": "meta"}, "device"),
    ({"device": "mps"}, "device"), ({"device": "cuda:99"}, "device"), ({"batch_name": "../../x"}, "batch_name"),
    ({"batch_name": "a/b"}, "batch_name"), ({"batch_name": ".."}, "batch_name"), ({"batch_name": ""}, "batch_name"),
    ({"batch_name": "${nope}"}, "batch_name"), ({"model.models_dir": "/etc/hostname"}, "model.models_dir"),
    ({"animation.zoom": "0:(1), 1e-300:(2), 3:(1)", "animation.interp_spline": "cubic"}, "animation.zoom"),
    ({"animation.zoom": "0:(1), 10000000000:(2)", "animation.interp_spline": "cubic"}, "animation.zoom"),
    ({"animation.zoom": "0:(1), 1:(1e308)"}, "animation.zoom"),
    ({"audio.path": "~nobody_here/song.wav"}, "audio.path"), ({"init_image": "~nobody_here/a.png"}, "init_image"),
])
def test_values_beyond_the_limits_are_named(compose_config, values, setting):
    result = _plan_or_named_error(compose_config, values, {setting})
    assert isinstance(result, ConfigErrors) and any(i.setting == setting for i in result.issues), result


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(setting=st.sampled_from([("url_timeout", MAX_URL_TIMEOUT_S), ("url_max_mb", MAX_URL_MB)]),
       value=st.one_of(NUMBERS, st.floats(-1e6, 1e6), st.sampled_from([1e-9, 600.0, 600.001, 2000.0, 2000.5, 1e12])))
def test_url_download_bounds_are_named(compose_config, setting, value):
    name, limit = setting
    result = _plan_or_named_error(compose_config, {name: value})
    named = isinstance(result, ConfigErrors) and any(i.setting == name for i in result.issues)
    assert named == (not 0 < value <= limit), (name, value, result)


@pytest.mark.parametrize("values, setting", [
    ({"model.steps": 1}, "model.steps"), ({"model.steps": 20000}, "model.steps"),
    ({"model.frames_skip_steps": "inf%"}, "model.frames_skip_steps"),
    ({"model.frames_skip_steps": "1e400"}, "model.frames_skip_steps"),
    ({"model.frames_skip_steps": "nan%"}, "model.frames_skip_steps"),
    ({"model.clip_guidance_scale": float("nan")}, "model.clip_guidance_scale"),
    ({"model.clip_guidance_scale": float("inf")}, "model.clip_guidance_scale"),
])
def test_diffusion_values_are_named(compose_config, values, setting):
    result = _plan_or_named_error(compose_config, values, {setting}, groups=("generator=diffusion", "model=tiny"))
    assert isinstance(result, ConfigErrors) and any(i.setting == setting for i in result.issues), result


def _png(path, size=(64, 48), mode="RGB"):
    Image.new(mode, size, 1).save(path)
    return path


def _corrupt_png(path):
    raw = bytearray(_png(path, (64, 64)).read_bytes())
    start = raw.index(b"IDAT") + 4
    raw[start + 10:start + 30] = bytes(20)  # a broken deflate stream, the chunk CRC left as it was
    path.write_bytes(bytes(raw))
    return path


def _bomb(path):
    """A 9000x9000 1-bit PNG: 81 megapixels in a few kilobytes."""
    Image.new("1", (9000, 9000), 0).save(path, optimize=True)
    return path


@pytest.mark.parametrize("make, problem", [
    (lambda p: p, "file not found"),
    (lambda p: (os.mkfifo(p), p)[1], "not a regular file"),
    (lambda p: (p.mkdir(), p)[1], "not a regular file"),
    (lambda p: (p.write_bytes(b"not a picture"), p)[1], "cannot be read as an image"),
    (_corrupt_png, "cannot be read as an image"),
    (_bomb, "more than the limit"),
])
@pytest.mark.parametrize("setting", ["init_image", "image_prompts"])
def test_bad_image_files_are_named_without_hanging(compose_config, tmp_path, make, problem, setting):
    path = make(tmp_path / "image.png")
    values = {"init_image": str(path)} if setting == "init_image" else {"image_prompts.0": [f"{path}:2"]}
    result = _plan_or_named_error(compose_config, values, {setting})
    assert isinstance(result, ConfigErrors), result
    assert any(i.setting.startswith(setting) and problem in i.problem for i in result.issues), result


def test_a_good_image_passes(compose_config, tmp_path):
    path = _png(tmp_path / "fine.png")
    plan = _plan_or_named_error(compose_config, {"init_image": str(path), "image_prompts.0": [f"{path}:2"]},
                                {"init_image", "image_prompts"})
    assert plan is not None and not isinstance(plan, ConfigErrors) and plan.n_frames == 4


def test_corrupt_png_fixture_is_really_corrupt(tmp_path):
    raw = _corrupt_png(tmp_path / "c.png").read_bytes()
    with pytest.raises((OSError, zlib.error, SyntaxError)):
        with Image.open(tmp_path / "c.png") as img:
            img.load()
    assert raw.startswith(b"\x89PNG")
