"""The settings a diffusion model brings with it in DD v5.7: its cut schedules and its frame size.

DD switches to KaliYuga's cut schedules for the pixel-art and PulpSciFi finetunes (``pad_or_pulp_cut_*``) and for
the watercolour ones (``watercolor_cut_*``), and sizes the 256x256 models with ``width_height_for_256x256_models``
(512x448) instead of ``width_height_for_512x512_models`` (1280x768). Here those settings default to null, meaning
"the model's own", and :func:`with_model_defaults` fills them in the plan; a value the user sets always wins (DD
overwrote even an edited cut schedule).
"""
from __future__ import annotations

from dataclasses import replace

from render.config.schema import ModelConfig

CUT_SETTINGS = ("cut_overview", "cut_innercut", "cut_ic_pow", "cut_icgray_p")

DD_CUTS = ("[12]*400+[4]*600", "[4]*400+[12]*600", "[1]*1000", "[0.2]*400+[0]*600")
_KALIYUGA_POW = "[12]*300+[12]*100+[12]*50+[12]*50+[10]*100+[10]*100+[10]*300"
PAD_OR_PULP_CUTS = ("[15]*100+[15]*100+[12]*100+[12]*100+[6]*100+[4]*100+[2]*200+[0]*200",
                    "[1]*100+[1]*100+[4]*100+[4]*100+[8]*100+[8]*100+[10]*200+[10]*200",
                    _KALIYUGA_POW,
                    "[0.87]*100+[0.78]*50+[0.73]*50+[0.64]*60+[0.56]*40+[0.50]*50+[0.33]*100+[0.19]*150+[0]*400")
WATERCOLOR_CUTS = ("[14]*200+[12]*200+[4]*400+[0]*200", "[2]*200+[4]*200+[12]*400+[12]*200", _KALIYUGA_POW,
                   "[0.7]*100+[0.6]*100+[0.45]*100+[0.3]*100+[0]*600")

# DD's lists (kaliyuga_pixel_art_model_names includes PulpSciFiDiffusion, which also has a list of its own)
PIXEL_ART_MODELS = ("pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256", "pixel_art_diffusion_soft_256",
                    "pixelartdiffusion4k", "PulpSciFiDiffusion")
WATERCOLOR_MODELS = ("watercolordiffusion", "watercolordiffusion_2")
PULPSCIFI_MODELS = ("PulpSciFiDiffusion",)
MODELS_256 = ("256x256_diffusion_uncond", *PIXEL_ART_MODELS, *WATERCOLOR_MODELS, *PULPSCIFI_MODELS)
SIZE_512_MODELS = [1280, 768]  # width_height_for_512x512_models
SIZE_256_MODELS = [512, 448]  # width_height_for_256x256_models


def model_cut_schedules(diffusion_model: str) -> tuple[str, str, str, str]:
    """DD's cut schedules (overview, innercut, ic_pow, icgray_p) for a diffusion model."""
    if diffusion_model in PIXEL_ART_MODELS or diffusion_model in PULPSCIFI_MODELS:
        return PAD_OR_PULP_CUTS
    if diffusion_model in WATERCOLOR_MODELS:
        return WATERCOLOR_CUTS
    return DD_CUTS


def model_size(diffusion_model: str) -> list[int]:
    """DD's default frame size [width, height] for a diffusion model."""
    return list(SIZE_256_MODELS if diffusion_model in MODELS_256 else SIZE_512_MODELS)


def with_model_defaults(model: ModelConfig) -> ModelConfig:
    """``model`` with every null cut schedule and a null width_height replaced by the model's own."""
    own = dict(zip(CUT_SETTINGS, model_cut_schedules(model.diffusion_model)))
    changes = {name: own[name] for name in CUT_SETTINGS if getattr(model, name) is None}
    if model.width_height is None:
        changes["width_height"] = model_size(model.diffusion_model)
    return replace(model, **changes) if changes else model
