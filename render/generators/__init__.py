"""Frame generators: the preview and the diffusion generator, with the networks it builds."""
