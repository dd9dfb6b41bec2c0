"""Sample a diffusers latent diffusion model (Stable Diffusion 1.x / 2.x) with smalldiffusion's sampler.

    python examples/stablediffusion.py --prompt 'An astronaut riding a horse' --steps 25 --gam 2 --out astronaut.png
    python examples/stablediffusion.py --height 512 --width 768 --out wide.png              # another image size
    python examples/stablediffusion.py --init-image astronaut.png --strength 0.6 --prompt 'An astronaut riding a camel'
    python examples/stablediffusion.py --tiny --out tiny.png   # offline: a tiny random pipeline, noise images

`--model-key` is a hub id (needs network access to the model hub) or a folder written by `save_pretrained`.
`--guidance` uses diffusers' convention (1 = off, 7.5 = diffusers' default). `--init-image` turns on image-to-image:
the image is encoded with the VAE, noised to the level `--strength` picks (as diffusers' img2img: it runs
int(strength * steps) of the steps) and sampled from there.
"""
import argparse, os, tempfile
import torch

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model-key', default='stabilityai/stable-diffusion-2-1-base', help='hub id or local folder')
    p.add_argument('--tiny', action='store_true', help='build a tiny random pipeline in a temporary folder (offline)')
    p.add_argument('--prompt', default='An astronaut riding a horse', help='text prompt')
    p.add_argument('--negative-prompt', default='', help='what to guide away from')
    p.add_argument('--guidance', type=float, default=7.5, help="diffusers' guidance scale (1 = off)")
    p.add_argument('--steps', type=int, default=50, help='number of sampling steps (of the full run, for img2img)')
    p.add_argument('--gam', type=float, default=1., help='gamma: 1 = DDIM, 2 = accelerated')
    p.add_argument('--mu', type=float, default=0., help='mu in [0, 1): 0 = deterministic, 0.5 = DDPM')
    p.add_argument('--batch', type=int, default=1, help='images per prompt')
    p.add_argument('--height', type=int, default=None, help="image height in pixels (default: the model's)")
    p.add_argument('--width', type=int, default=None, help="image width in pixels (default: the model's)")
    p.add_argument('--init-image', default=None, help='image-to-image: start from this image (resized to '
                   '--height/--width when given, else to its size rounded down to a multiple of the VAE factor)')
    p.add_argument('--strength', type=float, default=None, help='img2img strength in (0, 1] (default 0.8): '
                   '1 starts from pure noise, small values stay near the image')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument('--fp16', action='store_true', help='half precision weights (GPU)')
    p.add_argument('--out', default='stablediffusion.png', help='output PNG')
    args = p.parse_args(argv)
    if args.steps < 1: p.error(f'--steps must be at least 1, got {args.steps}')
    if not 0 <= args.mu < 1: p.error(f'--mu must lie in [0, 1), got {args.mu}')
    if args.batch < 1: p.error(f'--batch must be at least 1, got {args.batch}')
    for name in ('height', 'width'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f'--{name} must be a positive number of pixels, got {getattr(args, name)}')
    if args.strength is not None and args.init_image is None: p.error('--strength needs --init-image')
    if args.init_image is not None:
        args.strength = 0.8 if args.strength is None else args.strength
        if not 0 < args.strength <= 1: p.error(f'--strength must lie in (0, 1], got {args.strength}')
        if int(args.steps * args.strength) < 1:
            p.error(f'--strength {args.strength} runs int({args.steps} * strength) = 0 steps: raise it or --steps')
    return args

def image_size(args, model, init=None):
    "(height, width) in pixels: the options', else the init image's rounded down to the VAE factor, else the model's."
    f = model.vae_scale_factor
    default = ((init.size[1] // f * f, init.size[0] // f * f) if init is not None
               else tuple(d * f for d in model.input_dims[1:]))
    h, w = args.height or default[0], args.width or default[1]
    if h % f or w % f or h < f or w < f:
        raise SystemExit(f'error: --height and --width must be multiples of {f} (the VAE factor), got {h} x {w}')
    return h, w

def load_image(path, height, width):
    "An RGB image file as a (1, 3, height, width) tensor in [-1, 1], resized when its size differs (as diffusers)."
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor
    img = Image.open(path).convert('RGB')
    img = img if img.size == (width, height) else img.resize((width, height), Image.LANCZOS)
    return pil_to_tensor(img)[None].float() / 127.5 - 1     # uint8 [0, 255] -> [-1, 1]

def sample(args, model_key):
    from smalldiffusion import ModelLatentDiffusion, ScheduleLDM, samples, img_normalize
    from smalldiffusion.latent_diffusion import img2img_sigmas
    from smalldiffusion.fileio import atomic_write
    from torchvision.utils import save_image
    torch.manual_seed(args.seed)
    model = ModelLatentDiffusion(model_key, dtype=torch.float16 if args.fp16 else None)
    model.set_text_condition([args.prompt] * args.batch, args.negative_prompt, text_guidance_scale=args.guidance)
    sigmas = ScheduleLDM(1000).sample_sigmas(args.steps)
    if args.init_image is None:
        h, w = image_size(args, model)
        f = model.vae_scale_factor
        xt = torch.randn(args.batch, model.input_dims[0], h // f, w // f) * sigmas[0]   # diffusers' x_T in σ-space
    else:
        from PIL import Image
        h, w = image_size(args, model, Image.open(args.init_image))
        z0 = model.encode_images(load_image(args.init_image, h, w).expand(args.batch, -1, -1, -1))
        sigmas = img2img_sigmas(sigmas, args.strength)
        xt = z0 + sigmas[0] * torch.randn_like(z0)                         # the image's latents noised to sigmas[0]
    *_, x0 = samples(model, sigmas, gam=args.gam, mu=args.mu, xt=xt.to(model.device))
    images = img_normalize(model.decode_latents(x0))           # [-1, 1] -> [0, 1]
    atomic_write(args.out, lambda tmp: save_image(images, tmp, nrow=args.batch, format='PNG'))
    return images

def main(argv=None):
    args = parse_args(argv)
    if args.tiny:
        from smalldiffusion.tiny_pipeline import save_tiny_sd_pipeline
        with tempfile.TemporaryDirectory() as d:
            images = sample(args, save_tiny_sd_pipeline(os.path.join(d, 'tiny-sd')))
    else:
        images = sample(args, args.model_key)
    print(f'wrote {args.out}: {images.shape[0]} image(s) of {images.shape[2]}x{images.shape[3]}')

if __name__ == '__main__':
    main()
