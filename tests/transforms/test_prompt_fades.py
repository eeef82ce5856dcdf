"""Prompt cross-fades: fading keys ("key fade span curve"), the default span, and the prompt sets each frame targets."""
from __future__ import annotations

import numpy as np
import pytest

from transforms.keyframes import ScheduleError
from transforms.prompts import Prompt, PromptSet, evaluate_prompt_schedule

A, B, C = (Prompt("a"),), (Prompt("b"),), (Prompt("c"),)


def test_hard_switch_is_the_default():
    schedule = evaluate_prompt_schedule({0: ["a"], 4: ["b"]}, 8)
    assert schedule.blend == () and schedule.fade_spans() == []
    assert schedule.sets_at(4) == (PromptSet(B, 1.0, 4),)
    assert evaluate_prompt_schedule({0: ["a"], 4: ["b"]}, 8, fade=1).blend == ()  # a span of 1 frame: a switch


def test_linear_fade_over_a_key_span():
    schedule = evaluate_prompt_schedule({0: ["a"], "4 fade 4": ["b"]}, 10)
    assert schedule.blend == (1, 1, 1, 1, 0.25, 0.5, 0.75, 1, 1, 1)
    assert schedule.sets_at(5) == (PromptSet(A, 0.5, 0), PromptSet(B, 0.5, 4))
    assert schedule.at(5) == B and schedule.fade_spans() == [(4, 6)]


def test_default_span_curves_seconds_and_capping():
    ease = evaluate_prompt_schedule({0: ["a"], 4: ["b"]}, 8, fade=4, fade_curve="ease_in_out")
    assert ease.blend[4:8] == pytest.approx((4 * 0.25**3, 0.5, 1 - (2 - 1.5) ** 3 / 2, 1.0))
    seconds = evaluate_prompt_schedule({0: ["a"], "4 fade 1s ease_in": ["b"]}, 10, fps=4)
    assert seconds.blend[4:8] == pytest.approx((0.25**3, 0.5**3, 0.75**3, 1.0))
    # a fade is shortened to end before the next key: "4 fade 10" with a key at 6 spans frames 4 and 5 (1/2, 1)
    capped = evaluate_prompt_schedule({0: ["a"], "4 fade 10": ["b"], 6: ["c"]}, 9)
    assert capped.blend == (1, 1, 1, 1, 0.5, 1, 1, 1, 1)
    assert capped.sets_at(6) == (PromptSet(C, 1.0, 6),)


def test_spans_in_beats_follow_the_song():
    clock = np.arange(12) / 2.0  # two frames per beat
    schedule = evaluate_prompt_schedule({0: ["a"], "2b fade 2b": ["b"]}, 12, beat_clock=clock)
    assert schedule.change_frames == (4,)
    assert schedule.blend[4:9] == pytest.approx((0.25, 0.5, 0.75, 1.0, 1.0))  # 2 beats = 4 frames


@pytest.mark.parametrize("prompts, fade, setting, fragment", [
    ({0: ["a"], "4 fade x": ["b"]}, 0, "text_prompts[4 fade x]", "frames (24), seconds (2s) or beats"),
    ({0: ["a"], "4 fade 3 wobble": ["b"]}, 0, "text_prompts[4 fade 3 wobble]", "unknown fade curve"),
    ({0: ["a"], "fade 3": ["b"]}, 0, "text_prompts[fade 3]", "key fade span"),
    ({0: ["a"], 4: ["b"]}, "2q", "prompt_blend", "frames (24)"),
    ({0: ["a"], 4: ["b"]}, "4b", "prompt_blend", "needs a song"),
])
def test_bad_fades_are_named(prompts, fade, setting, fragment):
    with pytest.raises(ScheduleError) as err:
        evaluate_prompt_schedule(prompts, 10, fade=fade)
    assert err.value.setting == setting and fragment in str(err.value)
