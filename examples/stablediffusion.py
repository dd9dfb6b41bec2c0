"""Sample a diffusers latent diffusion model (Stable Diffusion 1.x / 2.x) with smalldiffusion's sampler.

    python examples/stablediffusion.py --prompt 'An astronaut riding a horse' --steps 25 --gam 2 --out astronaut.png
    python examples/stablediffusion.py --tiny --out tiny.png   # offline: a tiny random pipeline, noise images

`--model-key` is a hub id (needs network access to the model hub) or a folder written by `save_pretrained`.
`--guidance` uses diffusers' convention (1 = off, 7.5 = diffusers' default).
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
    p.add_argument('--steps', type=int, default=50, help='number of sampling steps')
    p.add_argument('--gam', type=float, default=1., help='gamma: 1 = DDIM, 2 = accelerated')
    p.add_argument('--mu', type=float, default=0., help='mu in [0, 1): 0 = deterministic, 0.5 = DDPM')
    p.add_argument('--batch', type=int, default=1, help='images per prompt')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument('--fp16', action='store_true', help='half precision weights (GPU)')
    p.add_argument('--out', default='stablediffusion.png', help='output PNG')
    args = p.parse_args(argv)
    if args.steps < 1: p.error(f'--steps must be at least 1, got {args.steps}')
    if not 0 <= args.mu < 1: p.error(f'--mu must lie in [0, 1), got {args.mu}')
    if args.batch < 1: p.error(f'--batch must be at least 1, got {args.batch}')
    return args

def sample(args, model_key):
    from smalldiffusion import ModelLatentDiffusion, ScheduleLDM, samples, img_normalize
    from smalldiffusion.training import atomic_write
    from torchvision.utils import save_image
    torch.manual_seed(args.seed)
    model = ModelLatentDiffusion(model_key, dtype=torch.float16 if args.fp16 else None)
    model.set_text_condition([args.prompt] * args.batch, args.negative_prompt, text_guidance_scale=args.guidance)
    *_, x0 = samples(model, ScheduleLDM(1000).sample_sigmas(args.steps), gam=args.gam, mu=args.mu,
                     batchsize=args.batch)
    images = img_normalize(model.decode_latents(x0))           # [-1, 1] -> [0, 1]
    atomic_write(args.out, lambda tmp: save_image(images, tmp, nrow=args.batch, format='PNG'))
    return images

def main(argv=None):
    args = parse_args(argv)
    if args.tiny:
        from smalldiffusion.latent_diffusion import save_tiny_sd_pipeline
        with tempfile.TemporaryDirectory() as d:
            images = sample(args, save_tiny_sd_pipeline(os.path.join(d, 'tiny-sd')))
    else:
        images = sample(args, args.model_key)
    print(f'wrote {args.out}: {images.shape[0]} image(s) of {images.shape[2]}x{images.shape[3]}')

if __name__ == '__main__':
    main()
