"""smalldiffusion 0.5 kept its Stable Diffusion wrapper here; it now lives in the package.

`from diffusers_wrapper import ModelLatentDiffusion` (run from this folder, as 0.5's examples did) keeps working and
gives the package's wrapper: `smalldiffusion.latent_diffusion.ModelLatentDiffusion`, documented on the
"Pretrained latent diffusion models" page.
"""
from smalldiffusion.latent_diffusion import ModelLatentDiffusion
from smalldiffusion.model import alpha_bar

__all__ = ['ModelLatentDiffusion', 'alpha_bar']
