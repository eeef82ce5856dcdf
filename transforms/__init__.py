"""Keyframe schedules, prompt schedules and camera warps (2D affine, 3D from depth); import the module you need."""
