"""Bounds of ``model.custom_model`` checked from its numbers alone (no checkpoint read, no torch): the UNet it
describes is one guided-diffusion builds, of a size a machine can hold, and the frame fits its levels."""
from __future__ import annotations

from typing import Any, Callable

from render.config.diffusion_plan import CUSTOM
from render.config.schema import CustomModelConfig, ModelConfig
from render.diffusion.unet_levels import DEFAULT_CHANNEL_MULT, NORM_GROUPS

Add = Callable[[str, Any, str, str], None]
PREFIX = "model.custom_model."
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 4096
MAX_LEVELS = 8  # channel_mult entries (the 512 model has 7): each level halves the frame once more
MAX_RES_BLOCKS = 16  # DD's models have 2; each block is two convolutions per level, twice
MAX_CHANNELS = 8192  # a level's channel count (the 512 model's deepest is 1024)
DD_FIX = "use the model's model_config from its release notes (DD's custom defaults: image_size 256, num_channels " \
         "128, num_res_blocks 2, attention_resolutions 16, num_heads 1)"


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_list(text: Any) -> list[int] | None:
    """``"32,16,8"`` as whole numbers, None when an item is not one (empty items skipped, as guided-diffusion)."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if len(items) > 4 * MAX_LEVELS or not all(item.isdigit() and len(item) <= 12 for item in items):
        return None
    return [int(item) for item in items]


def _power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def check_custom_model(model: CustomModelConfig, add: Add) -> tuple[int, ...] | None:
    """Every bound of ``model``; returns the channel count of each level (None when they cannot be told)."""
    size = _whole(model.image_size)
    if size is None or not (MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE and _power_of_two(size)):
        add(PREFIX + "image_size", model.image_size, f"must be a power of two from {MIN_IMAGE_SIZE} to "
            f"{MAX_IMAGE_SIZE} (the training resolution)", f"e.g. 256 or 512; {DD_FIX}")
        size = None
    blocks = _whole(model.num_res_blocks)
    if blocks is None or not 1 <= blocks <= MAX_RES_BLOCKS:
        add(PREFIX + "num_res_blocks", model.num_res_blocks, f"must be 1 to {MAX_RES_BLOCKS} residual blocks per "
            "level", f"e.g. 2; {DD_FIX}")
    channels = _level_channels(model, size, add)
    if channels is not None and size is not None:
        attention = _attention_channels(model, size, channels, add)
        if attention is not None:
            _check_heads(model, attention, channels[-1], add)
    return channels


def _level_channels(model: CustomModelConfig, size: int | None, add: Add) -> tuple[int, ...] | None:
    base = _whole(model.num_channels)
    if base is None or not 1 <= base <= MAX_CHANNELS:
        add(PREFIX + "num_channels", model.num_channels, f"must be 1 to {MAX_CHANNELS} channels",
            f"e.g. 128 or 256; {DD_FIX}")
        return None
    if not str(model.channel_mult or "").strip():
        if size is None:
            return None
        if size not in DEFAULT_CHANNEL_MULT:
            add(PREFIX + "channel_mult", model.channel_mult, f"has no default for image_size={size} (only for "
                f"{', '.join(map(str, DEFAULT_CHANNEL_MULT))})", "give the multipliers, e.g. 1,1,2,2,4,4")
            return None
        mults = DEFAULT_CHANNEL_MULT[size]
    else:
        mults = _number_list(model.channel_mult)
        if not mults or not 1 <= len(mults) <= MAX_LEVELS or min(mults) < 1:
            add(PREFIX + "channel_mult", model.channel_mult, f"must be 1 to {MAX_LEVELS} whole multipliers of 1 or "
                "more, comma-separated", "e.g. 1,1,2,2,4,4 (or empty: the image size's default)")
            return None
    channels = tuple(int(m * base) for m in mults)
    bad = [c for c in channels if c % NORM_GROUPS or not NORM_GROUPS <= c <= MAX_CHANNELS]
    if bad:
        add(PREFIX + "num_channels", model.num_channels, f"gives levels of {', '.join(map(str, channels))} channels; "
            f"each must be a multiple of {NORM_GROUPS} (GroupNorm's groups) up to {MAX_CHANNELS}",
            f"use a multiple of {NORM_GROUPS}, e.g. 128, with channel_mult {','.join(map(str, mults))}")
        return None
    return channels


def _attention_channels(model: CustomModelConfig, size: int, channels: tuple[int, ...],
                        add: Add) -> list[int] | None:
    """The channel counts of the levels with self-attention, or None when ``attention_resolutions`` is bad."""
    resolutions = _number_list(model.attention_resolutions)
    reached = {size >> level: level for level in range(len(channels)) if size >> level}  # size / 2**level
    if resolutions is None or any(r not in reached for r in resolutions):
        add(PREFIX + "attention_resolutions", model.attention_resolutions, f"each must be a resolution the UNet "
            f"reaches: {', '.join(map(str, sorted(reached, reverse=True)))} (image_size {size} halved per level)",
            "e.g. 32,16,8 (DD's 512 model) or 16 (DD's custom default)")
        return None
    return [channels[reached[r]] for r in resolutions]


def _check_heads(model: CustomModelConfig, attention: list[int], deepest: int, add: Add) -> None:
    """Heads that split every attention level's channels evenly (the middle block's attention is at the deepest)."""
    down = sorted(set(attention) | {deepest})
    head_channels = _whole(model.num_head_channels)
    if head_channels != -1:
        if head_channels is None or head_channels < 1 or any(c % head_channels for c in down):
            add(PREFIX + "num_head_channels", model.num_head_channels, f"must be -1 (use num_heads) or divide the "
                f"attention levels' channels ({', '.join(map(str, down))})", "e.g. 64 (DD's 512 model), or -1")
        return
    for name, value, levels in (("num_heads", model.num_heads, down),
                                ("num_heads_upsample", model.num_heads_upsample, sorted(set(attention)))):
        heads = _whole(value)
        if name == "num_heads_upsample" and heads == -1:
            continue
        if heads is None or heads < 1 or any(c % heads for c in levels):
            add(PREFIX + name, value, f"must be 1 or more heads dividing the attention levels' channels "
                f"({', '.join(map(str, levels))})" + (" (or -1: num_heads)" if name == "num_heads_upsample" else ""),
                f"e.g. 1 or 4; {DD_FIX}")


def check_custom(model: ModelConfig, width: int, height: int, add: Add) -> None:
    """``diffusion_model=custom``: the bounds of ``model.custom_model`` and the frame's fit to its levels."""
    if model.diffusion_model == CUSTOM:
        check_frame_levels(check_custom_model(model.custom_model, add), width, height, add)


def check_frame_levels(channels: tuple[int, ...] | None, width: int, height: int, add: Add) -> None:
    """The frame halves once per level after the first, so its sides must be multiples of ``2**(levels-1)``."""
    if not channels:
        return
    step = 2 ** (len(channels) - 1)
    for name, side in (("width", width), ("height", height)):
        if side % step:
            add(name, side, f"the custom UNet's {len(channels)} levels halve the frame {len(channels) - 1} times, so "
                f"each side must be a multiple of {step}", f"use {name}={max(step, side // step * step)}, or fewer "
                "levels in model.custom_model.channel_mult")
