"""CLIP guidance as Disco Diffusion does it: cutouts, CLIP models, losses and the ``cond_fn`` gradient."""
