"""Settings and plans: the typed schema, presets, the pure planner and the assets it resolves, the plans."""
