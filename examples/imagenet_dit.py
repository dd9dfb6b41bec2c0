"""Class-conditional DiT-B/2 on ImageNet VAE latents, trained with flow matching (logit-normal t): the published
smalldiffusion configuration (its reported unconditional FID is about 27; not re-measured here).

    pip install -e '.[examples]'
    accelerate launch examples/imagenet_dit.py                      # 256x256 ImageNet as 32x32x4 SD-VAE latents
    python examples/imagenet_dit.py --dataset LATENTS_DIR --vae VAE_DIR --depth 2 --head-dim 32 --num-heads 4
           --batch-size 32 --max-steps 1000 --num-workers 0 --out runs/small_dit     # a small run, on a CPU (one line)
    python examples/write_samples.py --run runs/imagenet_dit --n 50000 --out runs/imagenet_dit/pngs   # for FID tools

--dataset is a Hugging Face hub name or a folder written by `Dataset.save_to_disk`, with a 'label' column and
precomputed VAE latent means (--latent-key, and optionally their horizontal flips, --flip-key); --vae is anything
`diffusers.AutoencoderKL.from_pretrained` accepts (a hub name or a local folder). Training reads
x = latent * scaling_factor + shift_factor, samples are decoded with the inverse. Writes to --out: `config.json` (these
options, for write_samples.py), `last.safetensors` (resumable with --resume), `final.safetensors` (model + EMA) and
`samples.png` (one class per sample, classes 0, 1, ..., guided with --cfg-scale).
"""
import argparse, json, sys
from pathlib import Path
import torch
from torch.utils.data import DataLoader, Dataset
from accelerate import Accelerator
from accelerate.utils import set_seed
from smalldiffusion import (DiT, PredFlow, CondEmbedderLabel, TimestepEmbedder, ScheduleFlow, ScheduleLogNormalFlow,
                            make_ema, save_checkpoint, training_loop)
from smalldiffusion.image import save_grid
from smalldiffusion.fileio import atomic_write
sys.path.insert(0, str(Path(__file__).parent))
from image_common import checkpoint_paths, resume_hint, sample

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a('--dataset', default='yuanchenyang/imagenet-256-sd-vae-ft-mse-latents', help='hub name or save_to_disk folder')
    a('--vae', default='stabilityai/sd-vae-ft-ema', help='AutoencoderKL: hub name or local folder')
    a('--latent-key', default='latent_mean'); a('--flip-key', default='latent_mean_flip', help="'' for no flips")
    a('--label-key', default='label'); a('--num-classes', type=int, default=1000)
    a('--in-dim', type=int, default=32, help='latent side'); a('--channels', type=int, default=4)
    a('--patch-size', type=int, default=2); a('--depth', type=int, default=12)
    a('--head-dim', type=int, default=64); a('--num-heads', type=int, default=12)
    a('--epochs', type=int, default=40, help='each sees every latent and its flip')
    a('--max-steps', type=int, default=400000, help='stop (with a checkpoint) here')
    a('--batch-size', type=int, default=256, help='global batch, split over processes')
    a('--lr', type=float, default=1e-4)
    a('--ema-decay', type=float, default=0.9999); a('--num-workers', type=int, default=8)
    a('--mixed-precision', choices=['no', 'fp16', 'bf16'], default='no')
    a('--out', default='runs/imagenet_dit'); a('--save-every', type=int, default=5000, help='steps between checkpoints')
    a('--resume', action='store_true', help='continue from OUT/last.safetensors if it exists')
    a('--sample-batch-size', type=int, default=16, help='samples in samples.png')
    a('--sample-steps', type=int, default=10); a('--t-min', type=float, default=0.04, help='last time before 0')
    a('--gam', type=float, default=1.6); a('--cfg-scale', type=float, default=2.0); a('--seed', type=int, default=0)
    return p.parse_args(argv)

def build_model(args) -> torch.nn.Module:
    "PredFlow DiT with label conditioning (label num_classes is the dropped, unconditional label) and 1000t embedding."
    dim = args.head_dim * args.num_heads
    return PredFlow(DiT)(in_dim=args.in_dim, channels=args.channels, patch_size=args.patch_size, depth=args.depth,
                         head_dim=args.head_dim, num_heads=args.num_heads, mlp_ratio=4.0,
                         cond_embed=CondEmbedderLabel(dim, num_classes=args.num_classes, dropout_prob=0.1),
                         sig_embed=TimestepEmbedder(dim))

def load_vae(args, device):
    from diffusers import AutoencoderKL
    return AutoencoderKL.from_pretrained(args.vae).to(device).eval().requires_grad_(False)

def decoder(args, device):
    "Model-space latents -> images in [-1, 1], through the VAE (write_samples.py uses this)."
    vae = load_vae(args, device)
    return lambda x: decode(vae, x)

def sampling_schedule(args): return ScheduleFlow(t_min=args.t_min)

def latent_affine(vae) -> tuple:
    "(scale, shift): the model sees latent * scale + shift."
    return vae.config.scaling_factor, vae.config.shift_factor or 0.

@torch.no_grad()
def decode(vae, x: torch.Tensor) -> torch.Tensor:
    "Model-space latents (B, C, h, w) -> images in [-1, 1] (B, 3, H, W)."
    scale, shift = latent_affine(vae)
    return vae.decode((x.to(vae.dtype) - shift) / scale).sample.float().clamp(-1, 1)

class LatentDataset(Dataset):
    "(latent * scale + shift, label) rows of a Hugging Face dataset, each latent once as stored and once flipped."
    def __init__(self, ds, args, scale: float, shift: float):
        self.keys = [k for k in (args.latent_key, args.flip_key) if k]
        missing = set(self.keys + [args.label_key]) - set(ds.column_names)
        if missing: raise ValueError(f'--dataset has no column(s) {sorted(missing)}; it has {ds.column_names}')
        self.ds, self.label_key, self.scale, self.shift = ds.with_format('torch'), args.label_key, scale, shift
    # the flip is part of the index, so the shuffled order decides it and a resumed epoch replays it exactly
    def __len__(self): return len(self.keys) * len(self.ds)
    def __getitem__(self, i):
        key, row = self.keys[i // len(self.ds)], self.ds[i % len(self.ds)]
        return row[key].float() * self.scale + self.shift, row[self.label_key].long()

def load_latents(name: str):
    "A hub dataset's train split, or a `save_to_disk` folder (a Dataset, or a DatasetDict with a 'train' split)."
    import datasets
    if not Path(name).is_dir(): return datasets.load_dataset(name, split='train')
    ds = datasets.load_from_disk(name)
    return ds['train'] if isinstance(ds, datasets.DatasetDict) else ds

def main(argv=None):
    args = parse_args(argv)
    a = Accelerator(mixed_precision=args.mixed_precision)
    set_seed(args.seed, device_specific=True)   # each process draws its own labels dropout, times and noise
    out = Path(args.out)
    if a.is_main_process:
        config = json.dumps(dict(vars(args), example='imagenet_dit'), indent=1)
        atomic_write(out / 'config.json', lambda tmp: Path(tmp).write_text(config))
    vae = load_vae(args, a.device)
    dataset = LatentDataset(load_latents(args.dataset), args, *latent_affine(vae))
    loader = DataLoader(dataset, batch_size=args.batch_size // a.num_processes, shuffle=True,
                        num_workers=args.num_workers, pin_memory=a.device.type == 'cuda', drop_last=True)
    model = build_model(args)
    if a.is_main_process: print(f'DiT parameters: {sum(p.numel() for p in model.parameters()):,}')
    ema = make_ema(model, decay=args.ema_decay).to(a.device)

    # train, checkpointing to OUT/last.safetensors every --save-every steps and at --max-steps
    ckpt, resume = checkpoint_paths(args, a)            # resume from OUT/last.safetensors with --resume
    with resume_hint(ckpt, resume):
        loop = training_loop(loader, model, ScheduleLogNormalFlow(), epochs=args.epochs, lr=args.lr, accelerator=a,
                             ema=ema, conditional=True, resume_from=resume)
    for ns in loop:
        ns.pbar.set_description(f'loss={ns.loss.item():.4f}')
        if ns.step == args.max_steps: save_checkpoint(ckpt, ns); break  # resumable: state after max_steps steps
        if ns.step and ns.step % args.save_every == 0: save_checkpoint(ckpt, ns)
    steps = ns.step if ns.step == args.max_steps else ns.step + 1   # ns is yielded before its step's update

    labels = torch.arange(args.sample_batch_size) % args.num_classes
    x0 = sample(args, a, ema, sampling_schedule(args).sample_sigmas(args.sample_steps), gam=args.gam,
                cfg_scale=args.cfg_scale, cond=labels)
    if a.is_main_process:
        save_checkpoint(out / 'final.safetensors', model=a.unwrap_model(model), ema=ema, extra=dict(steps=steps))
        print('samples:', save_grid(decode(vae, x0), out / 'samples.png', nrow=min(8, args.sample_batch_size)))

if __name__ == '__main__':
    main()
