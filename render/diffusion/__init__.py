"""The diffusion core: guided-diffusion's UNet (``unet``), DD's respaced schedule (``schedule``) and the DDIM/PLMS
samplers with score guidance (``samplers``)."""
