"""Settings from other tools in (Disco Diffusion, Deforum, Parseq, a run's config.yaml) and a run's schedules out."""
