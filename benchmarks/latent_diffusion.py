"""ModelLatentDiffusion + `samples` against StableDiffusionPipeline: wall time of the denoising loop, same latents.

Both run DDIM (our gam=1, mu=0 on ScheduleLDM(1000).sample_sigmas(n); diffusers' DDIMScheduler with trailing spacing)
with classifier-free guidance on a tiny random Stable Diffusion pipeline saved to a temporary folder, from the same
initial latents; both timed regions include encoding the prompts, and the order alternates every round (after one
untimed warm-up round). The tiny UNet is cheap, so this measures what the wrapper and sampler add per step (σ -> t
lookup, rescaling, guidance) on top of the UNet; with a real checkpoint the UNet dominates both. Prints the median time
of each, ours / diffusers, and the largest difference between the final latents.

    python benchmarks/latent_diffusion.py                 # a few seconds on 2 CPUs
    python benchmarks/latent_diffusion.py --steps 25 --repeats 9 --sample-size 32

The result is written to --out (JSON), which the README reads.
"""
import argparse, json, statistics, tempfile, time
from pathlib import Path
import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import logging as diffusers_logging
from smalldiffusion import ModelLatentDiffusion, ScheduleLDM, samples
from smalldiffusion.latent_diffusion import to_diffusers_latents, from_diffusers_latents
from smalldiffusion.tiny_pipeline import save_tiny_sd_pipeline

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=50)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--sample-size', type=int, default=8, help='latent side of the tiny UNet')
    p.add_argument('--guidance', type=float, default=7.5, help="diffusers' guidance scale")
    p.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'latent_diffusion.json'),
                   help='JSON result file')
    args = p.parse_args(argv)
    diffusers_logging.disable_progress_bar()
    prompts = ['an astronaut riding a horse', 'a photo of the moon']
    with tempfile.TemporaryDirectory() as d:
        path = save_tiny_sd_pipeline(f'{d}/tiny-sd', sample_size=args.sample_size)
        pipe = StableDiffusionPipeline.from_pretrained(path)
        pipe.set_progress_bar_config(disable=True)
        model = ModelLatentDiffusion(path)
    sig = ScheduleLDM(1000).sample_sigmas(args.steps)
    zT = torch.randn(len(prompts), *model.input_dims, generator=torch.Generator().manual_seed(0))
    def run_diffusers():   # the pipeline encodes the prompts inside its call
        return pipe(prompts, latents=zT, num_inference_steps=args.steps, guidance_scale=args.guidance,
                    output_type='latent').images
    def run_ours():        # so ours encodes them inside the timed region too
        model.set_text_condition(prompts, text_guidance_scale=args.guidance)
        *_, x0 = samples(model, sig, gam=1, xt=from_diffusers_latents(zT, sig[0]), batchsize=len(prompts))
        return x0
    times, out = {'ours': [], 'diffusers': []}, {}
    for r in range(args.repeats + 1):                   # round 0 warms up; the order alternates every round
        for name, fn in (('ours', run_ours), ('diffusers', run_diffusers))[::1 if r % 2 else -1]:
            t0 = time.perf_counter(); out[name] = fn(); dt = time.perf_counter() - t0
            if r: times[name].append(dt)
    ref, x0 = out['diffusers'], out['ours']
    med = {k: statistics.median(v) for k, v in times.items()}
    diff = (to_diffusers_latents(x0, sig[-1]) - ref).abs().max().item()
    print(f'{args.steps} steps, batch {len(prompts)} with CFG, {args.sample_size}x{args.sample_size} latents, '
          f'{torch.get_num_threads()} threads, median of {args.repeats} alternated rounds, '
          'text encoding timed on both sides')
    print(f"ours {med['ours']:.3f} s   diffusers {med['diffusers']:.3f} s   "
          f"ours/diffusers {med['ours'] / med['diffusers']:.2f}")
    print(f'max |latents ours - diffusers| = {diff:.2e} (max |latent| {ref.abs().max():.1f})')
    from smalldiffusion.fileio import atomic_write
    result = dict(ours_s=med['ours'], diffusers_s=med['diffusers'], ratio=med['ours'] / med['diffusers'],
                  steps=args.steps,
                  repeats=args.repeats, sample_size=args.sample_size, torch_threads=torch.get_num_threads(),
                  max_abs_latent_diff=diff, times=times)
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))
    print('wrote', args.out)

if __name__ == '__main__':
    main()
