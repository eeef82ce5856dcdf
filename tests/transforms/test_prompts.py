"""Prompt parsing and prompt schedules."""
from __future__ import annotations

import pytest

from transforms.keyframes import ScheduleError
from transforms.prompts import Prompt, evaluate_prompt_schedule, parse_prompt


@pytest.mark.parametrize("text, expected", [
    ("a lighthouse:2", Prompt("a lighthouse", 2.0)),
    ("yellow color scheme", Prompt("yellow color scheme", 1.0)),
    ("This prompt has weight five:5", Prompt("This prompt has weight five", 5.0)),
    ("negative:-0.5", Prompt("negative", -0.5)),
    ("https://example.com/a.png", Prompt("https://example.com/a.png", 1.0)),
    ("https://example.com/a.png:3", Prompt("https://example.com/a.png", 3.0)),
    ("images/init.png:0.5", Prompt("images/init.png", 0.5)),
    ("ratio 16:9 framing", Prompt("ratio 16:9 framing", 1.0)),  # the suffix is not a number: the colon is text
])
def test_parse_prompt(text, expected):
    assert parse_prompt(text) == expected


def test_weight_is_stripped_before_the_text_reaches_clip():
    # DD tokenised "This prompt has weight five:5" including ":5"; here the text has no weight suffix.
    assert ":" not in parse_prompt("This prompt has weight five:5").text


def test_schedule_is_a_step_function_with_first_key_held_before():
    schedule = evaluate_prompt_schedule({5: ["b"], 2: ["a:2", "c"], "1s": ["d"]}, 20, fps=12.0)
    assert schedule.at(0) == (Prompt("a", 2.0), Prompt("c", 1.0))  # before the first key: the first key's prompts
    assert schedule.at(4) == schedule.at(0)
    assert schedule.at(5) == (Prompt("b"),) and schedule.at(11) == (Prompt("b"),)
    assert schedule.at(12) == (Prompt("d"),) and schedule.at(19) == (Prompt("d"),)
    assert schedule.change_frames == (5, 12)


def test_empty_schedule_and_single_string():
    assert evaluate_prompt_schedule({}, 3).at(2) == ()
    assert evaluate_prompt_schedule({0: "just one"}, 2).at(1) == (Prompt("just one"),)


@pytest.mark.parametrize("prompts, fragment", [
    ({0: ["a:1", "b:-1"]}, "sum to zero"),
    ({0: [":2"]}, "empty"),
    ({"soon": ["a"]}, "key is not a frame number"),
    ({0: ["a:inf"]}, "finite"),
])
def test_bad_prompt_schedules(prompts, fragment):
    with pytest.raises(ScheduleError) as info:
        evaluate_prompt_schedule(prompts, 10, setting="text_prompts")
    assert fragment in str(info.value) and "text_prompts[" in str(info.value)
