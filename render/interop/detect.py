"""Reading a settings file and telling its format from its content (not its name): DD, Deforum, Parseq or ours."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from render.interop.source import ImportProblem

DISCO, DEFORUM, PARSEQ, OWN = "disco", "deforum", "parseq", "own"
FORMAT_NAMES = {DISCO: "Disco Diffusion v5.x settings", DEFORUM: "Deforum settings", PARSEQ: "Parseq manifest",
                OWN: "disco-anim config"}
DISCO_KEYS = frozenset({"text_prompts", "clip_guidance_scale", "cutn_batches", "cut_overview", "diffusion_model",
                        "use_secondary_model", "ViTB32"})
DEFORUM_KEYS = frozenset({"animation_prompts", "prompts", "diffusion_cadence", "strength_schedule", "noise_schedule",
                          "cfg_scale_schedule", "seed_behavior", "sampler", "W", "H", "fov_schedule", "border"})
OWN_GROUPS = ("animation", "model", "output", "depth", "flow", "audio")
MAX_BYTES = 64 * 1024 * 1024
FORMATS_FIX = ("give a Disco Diffusion <batch>(<n>)_settings.txt, a Deforum settings file, a Parseq manifest "
               "(.json) or a run's config.yaml")


def read_settings(path: Path) -> Any:
    """The file's data: JSON (trailing commas accepted, as hand-edited files carry them) or YAML."""
    key = "import_settings"
    if not path.is_file():
        raise ImportProblem(key, str(path), "no such file" if not path.exists() else "is not a file",
                            "give the path of the settings file (relative to where you run main.py)")
    if path.stat().st_size > MAX_BYTES:
        raise ImportProblem(key, str(path), f"is larger than {MAX_BYTES // 2**20} MB", FORMATS_FIX)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportProblem(key, str(path), f"cannot be read as text ({exc})", FORMATS_FIX) from None
    try:
        return json.loads(without_trailing_commas(text))
    except json.JSONDecodeError as json_error:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise ImportProblem(key, str(path), f"is neither JSON nor YAML (JSON: {json_error})",
                                FORMATS_FIX) from None


def without_trailing_commas(text: str) -> str:
    """JSON text with every comma that is followed only by whitespace and a closing bracket removed (outside
    strings)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        ch = text[i]
        if in_string:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch == ",":
            rest = text[i + 1:].lstrip()
            if not rest.startswith(("}", "]")):
                out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def detect_format(data: Any) -> str | None:
    """``disco``, ``deforum``, ``parseq`` or ``own``; None for anything else."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("rendered_frames"), list):
        return PARSEQ
    if any(isinstance(data.get(group), dict) for group in OWN_GROUPS):
        return OWN
    if DISCO_KEYS & data.keys():
        return DISCO
    if DEFORUM_KEYS & data.keys():
        return DEFORUM
    return None


def read_and_detect(path: Path) -> tuple[Any, str]:
    data = read_settings(path)
    kind = detect_format(data)
    if kind is None:
        shape = f"a {type(data).__name__}" if not isinstance(data, dict) else f"keys {', '.join(list(data)[:8])}"
        raise ImportProblem("import_settings", str(path), f"is none of the formats this renderer imports ({shape})",
                            FORMATS_FIX)
    return data, kind
