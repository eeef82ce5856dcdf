"""Keyframe schedules, prompt schedules and camera warps (2D affine, 3D from depth)."""
from transforms.camera2d import dd_affine_matrix, warp2d
from transforms.camera3d import EIGHT_BIT_BIAS, euler_xyz_matrix, grid3d, warp3d
from transforms.keyframes import ScheduleError, evaluate_schedule, parse_schedule
from transforms.prompts import Prompt, PromptSchedule, evaluate_prompt_schedule, parse_prompt

__all__ = [
    "EIGHT_BIT_BIAS",
    "Prompt",
    "PromptSchedule",
    "ScheduleError",
    "dd_affine_matrix",
    "euler_xyz_matrix",
    "evaluate_prompt_schedule",
    "evaluate_schedule",
    "grid3d",
    "parse_prompt",
    "parse_schedule",
    "warp2d",
    "warp3d",
]
