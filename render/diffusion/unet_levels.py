"""guided-diffusion's UNet levels from its settings, without torch: the default channel multipliers of each image
size, the comma lists of ``model_config`` parsed, and GroupNorm's group count (every channel count a multiple)."""
from __future__ import annotations

NORM_GROUPS = 32  # guided-diffusion's normalization(): GroupNorm(32, channels)

DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}


def int_tuple(value, cast=int) -> tuple:
    """``"32,16,8"``, ``16`` or ``(32, 16, 8)`` as a tuple (empty items of a string skipped)."""
    if isinstance(value, str):
        return tuple(cast(v) for v in value.split(",") if v.strip())
    if isinstance(value, (int, float)):
        return (cast(value),)
    return tuple(cast(v) if isinstance(v, str) else v for v in value)
