"""Write N samples of a trained example to a folder of PNGs (000000.png, ...), for FID tools: batched, resumable
(finished batches are skipped; each batch's noise depends only on --seed and its index), with a progress bar, and
split over processes under `accelerate launch`.

    python examples/write_samples.py --run runs/imagenet_dit --n 50000 --out runs/imagenet_dit/pngs

--run is an example's output folder: its `config.json` names the example (a module in examples/ with `parse_args`,
`build_model`, `sampling_schedule` and `decoder`) and holds the options it was trained with; the weights come from
`final.safetensors` there (or --checkpoint, e.g. `last.safetensors` of a run still training). Sample i has class
i % num_classes; steps, gam and guidance default to the run's own sampling options.
"""
import argparse, importlib, json, sys
from pathlib import Path
import torch
from PIL import Image
from tqdm import tqdm
from accelerate import Accelerator
from smalldiffusion import samples, make_ema, load_checkpoint
from smalldiffusion.fileio import atomic_write
sys.path.insert(0, str(Path(__file__).parent))

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--run', required=True, help="an example's --out folder, with config.json")
    p.add_argument('--checkpoint', default=None, help='default: RUN/final.safetensors')
    p.add_argument('--weights', choices=['ema', 'model'], default='ema')
    p.add_argument('--n', type=int, required=True, help='number of samples'); p.add_argument('--out', required=True)
    p.add_argument('--batch-size', type=int, default=64); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--steps', type=int, default=None); p.add_argument('--gam', type=float, default=None)
    p.add_argument('--cfg-scale', type=float, default=None)
    args = p.parse_args(argv)
    if args.n < 1 or args.batch_size < 1: p.error('--n and --batch-size must be >= 1')
    return args

def load_run(args, device):
    "(example module, its options, the model in eval mode) from RUN/config.json and the checkpoint."
    cfg = json.loads((Path(args.run) / 'config.json').read_text())
    example = importlib.import_module(cfg['example'])
    run = example.parse_args([])
    vars(run).update({k: v for k, v in cfg.items() if k != 'example'})
    model = example.build_model(run)
    ckpt = Path(args.checkpoint or Path(args.run) / 'final.safetensors')
    if args.weights == 'ema':
        ema = make_ema(model); load_checkpoint(ckpt, ema=ema, restore_host_rng=False); model = ema.module
    else: load_checkpoint(ckpt, model=model, restore_host_rng=False)
    return example, run, model.to(device).eval()

def check_folder(out: Path, meta: dict):
    "Refuse to resume a folder written with another seed, batch size or run: its batches would not match."
    path = out / 'write_samples.json'
    if path.exists():
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), v) for k, v in meta.items() if k != 'n' and old.get(k) != v}
        if diff:
            sys.exit(f'{out} was written with other settings {diff} (old, new): use another --out or the old settings')
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(meta, indent=1)))

def write_png(img: torch.Tensor, path: Path):
    "One image in [-1, 1] (C, H, W) as an 8-bit PNG, atomically."
    arr = ((img.float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
    atomic_write(path, lambda tmp: pil.save(tmp, format='PNG'))

def main(argv=None):
    args = parse_args(argv)
    acc = Accelerator()
    example, run, model = load_run(args, acc.device)
    steps, gam = args.steps or run.sample_steps, args.gam if args.gam is not None else run.gam
    cfg_scale = args.cfg_scale if args.cfg_scale is not None else run.cfg_scale
    out = Path(args.out)
    if acc.is_main_process:
        check_folder(out, dict(run=str(Path(args.run).resolve()), checkpoint=args.checkpoint, weights=args.weights,
                               seed=args.seed, batch_size=args.batch_size, steps=steps, gam=gam, cfg_scale=cfg_scale,
                               n=args.n))
    acc.wait_for_everyone()
    sigmas, decode = example.sampling_schedule(run).sample_sigmas(steps), example.decoder(run, acc.device)
    batches = [range(s, min(s + args.batch_size, args.n)) for s in range(0, args.n, args.batch_size)]
    todo = [b for i, b in enumerate(batches) if i % acc.num_processes == acc.process_index
            and not all((out / f'{j:06d}.png').exists() for j in b)]
    for b in tqdm(todo, desc='batches', disable=not acc.is_local_main_process):
        index = b.start // args.batch_size
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + index)      # this batch's noise, whatever ran before
        torch.manual_seed(args.seed * 1_000_003 + index)                      # and its sampler noise, if any
        xt = torch.randn(len(b), *model.input_dims, generator=g).to(acc.device) * float(sigmas[0])
        cond = torch.tensor([j % run.num_classes for j in b]) if getattr(run, 'num_classes', None) else None
        *_, x0 = samples(model, sigmas, gam=gam, cfg_scale=cfg_scale if cond is not None else 0., xt=xt, cond=cond)
        for j, img in zip(b, decode(x0)): write_png(img, out / f'{j:06d}.png')
    acc.wait_for_everyone()
    if acc.is_main_process: print(f'{args.n} samples in {out}')

if __name__ == '__main__':
    main()
