"""Settings and plans: the typed schema, presets, check_inputs, and the render/diffusion/depth/flow plans."""
