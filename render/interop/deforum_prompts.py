"""Deforum's (and Parseq's) prompt strings as this renderer's weighted prompt lists.

A Deforum prompt is ``"positive --neg negative"``; either side may be a composable mix ``"a forest :2 AND a city :1"``
(A1111's ``AND`` with ``:weight`` after each part; a weight may be a numexpr expression in backticks). Here every part
becomes a ``"text:weight"`` prompt; the negative parts become prompts of negative weight, as DD allows, together half
as strong as the positive ones (their weights sum to -1/2 of the positive weights' sum). LoRA and hypernetwork tags
(``<lora:name:0.8>``) are Stable Diffusion's and are removed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from render.interop.numexpr_language import TranslationError, translate
from render.interop.source import ImportProblem, number_text
from transforms.expressions import ExpressionError, parse_expression

NEGATIVE_SHARE = 0.5
AND = re.compile(r"\s+\bAND\b\s+")
WEIGHT = re.compile(r"^(?P<text>.*?)\s*:\s*(?P<weight>[+-]?(?:\d+(?:\.\d*)?|\.\d+)|`[^`]*`)\s*$", re.S)
TAG = re.compile(r"<(?:lora|lyco|hypernet)\s*:[^>]*>", re.I)
BACKTICK = re.compile(r"`([^`]*)`")


@dataclass
class PromptList:
    prompts: list[str]
    notes: list[str] = field(default_factory=list)


def deforum_prompt(text: str, key: str, frame: int, n_frames: int, seed: int | None) -> PromptList:
    """The prompt list of one Deforum prompt string in force from ``frame`` (backtick weights are evaluated there)."""
    notes = []
    if TAG.search(text):
        notes.append(f"{', '.join(TAG.findall(text))} removed (Stable Diffusion's LoRA/hypernetwork tags)")
        text = TAG.sub("", text)
    positive, _, negative = text.partition("--neg")
    pos = _parts(positive, key, frame, n_frames, seed, notes)
    neg = _parts(negative.replace("--neg", " "), key, frame, n_frames, seed, notes)
    total_pos, total_neg = sum(w for _, w in pos), sum(w for _, w in neg)
    scale = NEGATIVE_SHARE * total_pos / total_neg if total_pos > 0 and total_neg > 0 else 1.0
    prompts = [f"{t}:{number_text(w)}" for t, w in pos] + [f"{t}:{number_text(-w * scale)}" for t, w in neg]
    if not prompts:
        raise ImportProblem(key, text, "holds no prompt", 'write a prompt, e.g. "a lighthouse --neg blurry"')
    return PromptList(prompts, notes)


def _parts(text: str, key: str, frame: int, n_frames: int, seed: int | None,
           notes: list[str]) -> list[tuple[str, float]]:
    out = []
    for part in AND.split(text.strip()):
        part = part.strip().strip(",").strip()
        if not part:
            continue
        match = WEIGHT.match(part)
        weight = 1.0
        if match and match.group("text").strip():
            part, weight = match.group("text").strip(), _weight(match.group("weight"), key, frame, n_frames, seed)
            if match.group("weight").startswith("`"):
                notes.append(f"the weight {match.group('weight')} is taken at frame {frame}: {number_text(weight)}")
        if part.startswith("(") and part.endswith(")") and part.count("(") == 1:
            part = part[1:-1].strip()
        if BACKTICK.search(part):
            notes.append(f"backtick weights inside {part!r} are kept as text (A1111's emphasis syntax)")
        out.append((part, weight))
    return out


def _weight(text: str, key: str, frame: int, n_frames: int, seed: int | None) -> float:
    if not text.startswith("`"):
        return float(text)
    try:
        expression = translate(text.strip("`"), seed, frame=frame)
        value = parse_expression(expression, {"max_f"}).evaluate({"max_f": float(n_frames - 1)}, np.zeros(1))
    except (TranslationError, ExpressionError) as exc:
        raise ImportProblem(key, text, f"the weight cannot be evaluated: {getattr(exc, 'reason', exc)}",
                            "write a number, or an expression of t, max_f and s in backticks") from None
    return float(value[0])
