"""Every input surface added since the last hardening, fed generated values: custom UNets, progress images and
partials, prompt fades and spans, list settings, seamless loops, the exports, precisions, state keeping, the sweep
launchers. Each case ends in a plan or in ConfigErrors naming the setting, in milliseconds: never another exception,
a warning (an overflow) or a hang; and a custom UNet the planner accepts is one that builds and runs."""
from __future__ import annotations

import copy
import time
import warnings

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from render.config.diffusion_plan import custom_unet_config
from render.config.issues import ConfigErrors
from render.config.launcher_checks import launcher_issues
from render.config.limits import MAX_STEPS
from render.config.planner import plan_and_resolve, plan_run
from render.config.settings import to_settings
from render.diffusion.unet import UNetModel
from render.run.progress import partial_steps

BASE = ("model=tiny", "animation=3d_zoom", "depth=flat", "animation.max_frames=12", "width=128", "height=64",
        "seed=1")
PLAN_SECONDS = 5.0  # a draft takes milliseconds; a case near this is a hang in the making
GENERATED = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])
HUGE = st.sampled_from([10**6, 10**9, 2**63, 10**23, 10**400, -(10**23)])
WHOLE = st.one_of(st.integers(-3, 70), HUGE, st.integers())
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([1e15, 1e16, 1e300, -1e300, 5e-324, 0.5, -0.0]))
JUNK = st.recursive(st.one_of(st.none(), st.booleans(), WHOLE, FLOATS, st.text(max_size=8)),
                    lambda inner: st.lists(inner, max_size=3), max_leaves=6)


_COMPOSED: dict = {}


def composed(*groups: str):
    """The base config with ``groups`` (composed once per combination: Hydra is slow)."""
    from conftest import compose_overrides

    if groups not in _COMPOSED:
        _COMPOSED[groups] = compose_overrides(*BASE, *groups)
    return _COMPOSED[groups]


def outcome(base_cfg, changes: dict, *, resolve: bool = False):
    """The plan of ``base_cfg`` with ``changes`` (path -> value), or the settings its ConfigErrors name; None when
    the schema refuses a value's type (Hydra names the setting on the command line)."""
    cfg = copy.deepcopy(base_cfg)
    try:
        for path, value in changes.items():
            OmegaConf.update(cfg, path, value, merge=False)
    except OmegaConfBaseException as exc:
        assert path.rpartition(".")[2] in str(exc), exc
        return None
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an overflow's RuntimeWarning fails the case
            return (plan_and_resolve if resolve else plan_run)(to_settings(cfg))
    except ConfigErrors as exc:
        assert all(issue.setting and issue.problem and issue.fix for issue in exc.issues)
        return {issue.setting.split("[")[0] for issue in exc.issues}
    finally:
        assert resolve or time.perf_counter() - start < PLAN_SECONDS  # resolving first imports the models' code


def assert_names(result, *allowed: str) -> None:
    """A refused case names only settings under ``allowed`` (the ones it changed, and those judged with them)."""
    if isinstance(result, set):
        assert result and all(name.startswith(allowed) for name in result), (result, allowed)


# --- model.custom_model -----------------------------------------------------------------------------------------

CUSTOM = {"model.diffusion_model": "custom", "model.download": True, "model.use_secondary_model": False}
LISTS = st.one_of(st.lists(st.integers(-4, 2**13), max_size=10).map(lambda v: ",".join(map(str, v))),
                  st.text(alphabet=",0123456789ab -.", max_size=14),
                  st.sampled_from(["", "0", "16", "32,16,8", "9" * 30, "16,,8", " 8 , 4 ", "0.5,1", "1e3"]))
CUSTOM_MODELS = st.fixed_dictionaries({
    "image_size": st.one_of(st.sampled_from([0, -8, 8, 16, 64, 100, 256, 512, 1024, 8192]), WHOLE),
    "num_channels": st.one_of(st.sampled_from([0, -32, 16, 32, 48, 100, 128, 8192, 8224]), WHOLE),
    "num_res_blocks": st.one_of(st.sampled_from([0, 1, 2, 16, 17, 10**6]), WHOLE),
    "attention_resolutions": LISTS, "channel_mult": LISTS,
    "num_heads": st.one_of(st.sampled_from([0, -1, 1, 3, 4]), WHOLE),
    "num_head_channels": st.one_of(st.sampled_from([-1, 0, -2, 32, 48, 64]), WHOLE),
    "num_heads_upsample": st.one_of(st.sampled_from([-1, 0, 1, 3, 4]), WHOLE),
})


@GENERATED
@given(model=CUSTOM_MODELS)
def test_custom_model_numbers_are_bounded_by_the_planner(tmp_path_factory, model):
    checkpoint = tmp_path_factory.getbasetemp() / "custom.pt"
    checkpoint.write_bytes(b"never read by the planner")
    changes = {**CUSTOM, "model.custom_path": str(checkpoint), **{f"model.custom_model.{k}": v
                                                                  for k, v in model.items()}}
    result = outcome(composed(), changes)
    assert_names(result, "model.custom_model.", "width", "height")
    if result is not None and not isinstance(result, set):  # accepted: the UNet it describes builds (no weights)
        with torch.device("meta"):
            UNetModel(custom_unet_config(result.diffusion.model))


SMALL_CUSTOM = st.fixed_dictionaries({
    "image_size": st.sampled_from([8, 16, 32]), "num_channels": st.sampled_from([16, 32, 48, 64]),
    "num_res_blocks": st.integers(0, 2),
    "channel_mult": st.lists(st.integers(0, 3), min_size=1, max_size=3).map(lambda v: ",".join(map(str, v))),
    "attention_resolutions": st.lists(st.sampled_from([0, 2, 3, 4, 8, 16, 32, 64]), max_size=2).map(
        lambda v: ",".join(map(str, v))),
    "num_heads": st.sampled_from([0, 1, 2, 3, 4, 32]), "num_head_channels": st.sampled_from([-1, 0, 8, 16, 24, 32]),
    "num_heads_upsample": st.sampled_from([-1, 0, 1, 3, 4]),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(model=SMALL_CUSTOM)
def test_a_custom_unet_the_planner_accepts_runs_a_frame(tmp_path_factory, one_thread, model):
    checkpoint = tmp_path_factory.getbasetemp() / "custom.pt"
    checkpoint.write_bytes(b"never read by the planner")
    changes = {**CUSTOM, "model.custom_path": str(checkpoint), "width": 64, "height": 64,
               **{f"model.custom_model.{k}": v for k, v in model.items()}}
    result = outcome(composed(), changes)
    assert_names(result, "model.custom_model.")
    if isinstance(result, set):
        return
    unet = UNetModel(custom_unet_config(result.diffusion.model), use_checkpoint=False, channels_last=False)
    with torch.no_grad():
        out = unet(torch.zeros(1, 3, 16, 16), torch.tensor([500.0]))
    assert out.shape == (1, 6, 16, 16)


# --- progress images, partials, kept states -----------------------------------------------------------------------

@GENERATED
@given(every=st.one_of(WHOLE, FLOATS, st.text(max_size=6)), saves=JUNK,
       keep=st.one_of(st.none(), WHOLE, FLOATS, st.text(max_size=4)))
def test_progress_partials_and_kept_states(every, saves, keep):
    result = outcome(composed(), {"output.progress_every": every, "output.intermediate_saves": saves,
                                "output.keep_states": keep})
    assert_names(result, "output.progress_every", "output.intermediate_saves", "output.keep_states")
    if result is not None and not isinstance(result, set):  # what the accepted values make a frame write
        steps = result.diffusion.model.steps
        kept = partial_steps(saves, steps)
        assert all(0 <= step < steps for step in kept) and len(kept) <= min(steps, MAX_STEPS)
        assert keep is None or (isinstance(keep, int) and keep >= 1)


# --- prompt fades, spans and keys ---------------------------------------------------------------------------------

NUMBER_TEXT = st.one_of(st.integers(-(10**30), 10**30).map(str), st.floats().map(repr),
                        st.sampled_from(["1e300", "9" * 400, "0", "2.5", "-3", "nan", "inf", "1e14", "1e15"]))
SPANS = st.one_of(NUMBER_TEXT, NUMBER_TEXT.map(lambda n: n + "s"), NUMBER_TEXT.map(lambda n: n + "b"))
KEYS = st.one_of(
    st.integers(-(10**30), 10**30), NUMBER_TEXT, NUMBER_TEXT.map(lambda n: n + "s"),
    st.sampled_from(["max_f*1e300", "2**1000", "max_f/0", "fps*1e308", "max_f-1"]),
    st.tuples(NUMBER_TEXT, SPANS, st.sampled_from(["", " linear", " ease_in", " bogus"])).map(
        lambda t: f"{t[0]} fade {t[1]}{t[2]}"))
PROMPTS = st.lists(st.tuples(st.sampled_from(["a city", "fog"]), NUMBER_TEXT).map(lambda p: f"{p[0]}:{p[1]}"),
                   min_size=1, max_size=2)


@GENERATED
@given(keys=st.dictionaries(KEYS, PROMPTS, max_size=3), blend=st.one_of(WHOLE, FLOATS, SPANS, JUNK))
def test_prompt_fades_spans_and_keys(keys, blend):
    prompts = {0: ["a lighthouse"], **keys}
    result = outcome(composed(), {"text_prompts": prompts, "prompt_blend": blend})
    assert_names(result, "text_prompts", "prompt_blend")
    if result is not None and not isinstance(result, set):
        for frame in range(result.n_frames):
            mix = result.prompt_mix(frame)
            assert all(0.0 <= s.weight <= 1.0 for s in mix) and abs(sum(s.weight for s in mix) - 1.0) < 1e-9


# --- list settings --------------------------------------------------------------------------------------------------

CUT_VALUES = st.one_of(NUMBER_TEXT, st.sampled_from(["1e400", "-1", "0", "1.5", "1e308"]))


@st.composite
def cut_schedules(draw):
    first = draw(st.integers(-5, 1200) | HUGE)
    return f"[{draw(CUT_VALUES)}]*{first}+[{draw(CUT_VALUES)}]*{1000 - first if draw(st.booleans()) else first}"


@GENERATED
@given(percent=st.lists(FLOATS, max_size=4), size=st.one_of(st.none(), st.lists(WHOLE, max_size=3)),
       cuts=st.dictionaries(st.sampled_from(["cut_overview", "cut_innercut", "cut_ic_pow", "cut_icgray_p"]),
                            cut_schedules(), max_size=2))
def test_list_settings_with_huge_numbers(percent, size, cuts):
    changes = {"model.transformation_percent": percent, "model.width_height": size, "width": None, "height": None,
               **{f"model.{k}": v for k, v in cuts.items()}}
    result = outcome(composed(), changes)
    assert_names(result, "model.transformation_percent", "model.width_height", "width", "height", "model.cut_")


# --- seamless loops, the exports ------------------------------------------------------------------------------------

@GENERATED
@given(loop=st.booleans(), frames=WHOLE, blend=FLOATS, scale=FLOATS, mode=st.sampled_from([(), ("animation=2d_zoom",)]),
       turbo=st.booleans())
def test_seamless_loops(loop, frames, blend, scale, mode, turbo):
    changes = {"animation.loop": loop, "animation.loop_frames": frames, "animation.loop_init_blend": blend,
               "animation.loop_scale": scale}
    if turbo and not mode:
        changes.update({"animation.turbo_mode": True, "animation.turbo_preroll": 2})
    result = outcome(composed(*mode), changes)
    assert_names(result, "animation.loop")
    if result is not None and not isinstance(result, set) and loop:
        assert 1 <= frames < result.n_frames and 0 <= blend <= 1 and 0 <= scale < float("inf")


@GENERATED
@given(fps=st.one_of(st.none(), FLOATS), target=st.one_of(st.none(), FLOATS), upscale=WHOLE, video=st.booleans())
def test_interpolation_and_upscale_exports(fps, target, upscale, video):
    result = outcome(composed(), {"output.fps": fps, "output.interpolate_fps": target, "output.upscale": upscale,
                                "output.video": video})
    assert_names(result, "output.")
    if result is not None and not isinstance(result, set) and target is not None:
        assert result.fps < target <= 1000 and video


PRECISIONS = ["auto", "fp32", "bf16", "fp16", "fp8", "float16", None]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choice=st.fixed_dictionaries({name: st.sampled_from(PRECISIONS) for name in (
    "model.precision", "model.clip_precision", "depth.precision", "flow.precision")}))
def test_precisions_are_named_when_the_device_cannot_run_them(choice):
    result = outcome(composed(), {**choice, "device": "cpu"}, resolve=True)
    assert_names(result, *choice)
    if result is not None and not isinstance(result, set):
        assert "fp16" not in (choice["model.precision"], choice["model.clip_precision"])  # CUDA only
        assert all(c.value in ("fp32", "bf16") for c in result.precisions.values())


# --- the sweep launchers ---------------------------------------------------------------------------------------------

LAUNCHER_KEYS = ["n_jobs", "timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes",
                 "array_parallelism", "max_num_timeout", "timeout", "pre_dispatch", "batch_size", "prefer"]


@GENERATED
@given(values=st.dictionaries(st.sampled_from(LAUNCHER_KEYS), st.one_of(WHOLE, FLOATS, st.text(max_size=12), JUNK),
                              max_size=4))
def test_launcher_settings_are_named_before_jobs_start(values):
    from joblib import effective_n_jobs

    issues = launcher_issues(OmegaConf.create({"_target_": "a launcher", **values}))
    named = {i.setting for i in issues}
    assert named <= {f"hydra.launcher.{k}" for k in values}
    if "n_jobs" in values and "hydra.launcher.n_jobs" not in named:
        assert effective_n_jobs(values["n_jobs"]) >= 1  # joblib's own reading of it does not fail
    if values.get("n_jobs") == 0 or values.get("timeout_min", 1) in (0, -1) or values.get("pre_dispatch") == "x":
        assert issues
