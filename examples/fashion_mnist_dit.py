"""Train a diffusion transformer (DiT) on FashionMNIST: the published smalldiffusion configuration (FID about 5-6).

    accelerate launch examples/fashion_mnist_dit.py                      # unconditional
    accelerate launch examples/fashion_mnist_dit.py --conditional        # class labels, classifier-free guidance
    python examples/fashion_mnist_dit.py --dataset digits --conditional --epochs 20 --batch-size 128 --depth 2  # CPU

Writes to --out: `last.safetensors` (resumable with --resume), `final.safetensors` (model + EMA) and `samples.png`
(with --conditional, one column per class).
"""
import argparse, json
from pathlib import Path
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm import tqdm
from smalldiffusion import DiT, CondEmbedderLabel, ScheduleDDPM, samples, training_loop, make_ema, save_checkpoint
from smalldiffusion.image import image_dataset, save_grid, DigitsFD

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', choices=['fashion_mnist', 'digits'], default='fashion_mnist',
                   help="'digits': scikit-learn's bundled digits resized to 28x28, no download")
    p.add_argument('--data-dir', default='datasets')
    p.add_argument('--conditional', action='store_true', help='condition on class labels; sample with guidance')
    p.add_argument('--cfg-scale', type=float, default=2.0, help='classifier-free guidance scale (0: none)')
    p.add_argument('--epochs', type=int, default=300)
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--ema-decay', type=float, default=0.99)
    p.add_argument('--depth', type=int, default=6)
    p.add_argument('--head-dim', type=int, default=32)
    p.add_argument('--num-heads', type=int, default=6)
    p.add_argument('--mixed-precision', choices=['no', 'fp16', 'bf16'], default='no')
    p.add_argument('--out', default='runs/fashion_mnist_dit', help='output folder')
    p.add_argument('--save-every', type=int, default=2000, help='steps between checkpoints')
    p.add_argument('--max-steps', type=int, default=None, help='stop (with a checkpoint) after this many steps')
    p.add_argument('--resume', action='store_true', help='continue from OUT/last.safetensors if it exists')
    p.add_argument('--sample-batch-size', type=int, default=80)
    p.add_argument('--sample-steps', type=int, default=20)
    p.add_argument('--fd', action='store_true', help='digits only: report the digits Frechet distance of the samples')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)

def main(argv=None):
    args = parse_args(argv)
    set_seed(args.seed)
    a, out = Accelerator(mixed_precision=args.mixed_precision), Path(args.out)
    dataset = image_dataset(args.dataset, size=28, channels=1, labels=args.conditional, root=args.data_dir)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(dataset) > args.batch_size)
    schedule = ScheduleDDPM(beta_start=0.0001, beta_end=0.02, N=1000)
    dim = args.head_dim * args.num_heads
    cond_embed = CondEmbedderLabel(dim, num_classes=10, dropout_prob=0.1) if args.conditional else None
    model = DiT(in_dim=28, channels=1, patch_size=2, depth=args.depth, head_dim=args.head_dim,
                num_heads=args.num_heads, mlp_ratio=4.0, cond_embed=cond_embed)
    ema = make_ema(model, decay=args.ema_decay).to(a.device)

    # Train
    ckpt = out / 'last.safetensors'
    resume = ckpt if args.resume and ckpt.exists() else None
    for ns in training_loop(loader, model, schedule, epochs=args.epochs, lr=args.lr, accelerator=a, ema=ema,
                            conditional=args.conditional, resume_from=resume):
        ns.pbar.set_description(f'loss={ns.loss.item():.4f}')
        if ns.step == args.max_steps: save_checkpoint(ckpt, ns); break  # resumable: state after max_steps steps
        if ns.step and ns.step % args.save_every == 0: save_checkpoint(ckpt, ns)

    # Sample with the EMA weights; conditional: labels 0..9 in every row of the grid
    cond = torch.arange(args.sample_batch_size) % 10 if args.conditional else None
    *_, x0 = tqdm(samples(ema.module, schedule.sample_sigmas(args.sample_steps), gam=1.6,
                          batchsize=args.sample_batch_size, cond=cond,
                          cfg_scale=args.cfg_scale if args.conditional else 0., accelerator=a),
                  total=args.sample_steps, desc='sampling')
    steps_done = ns.step if ns.step == args.max_steps else ns.step + 1  # ns is yielded before its step's update
    if a.is_main_process:
        save_checkpoint(out / 'final.safetensors', model=a.unwrap_model(model), ema=ema, extra=dict(steps=steps_done))
        print('samples:', save_grid(x0, out / 'samples.png', nrow=10 if args.conditional else 8))
        if args.fd and args.dataset == 'digits':
            fd = DigitsFD()
            metrics = dict(digits_fd=fd(x0), digits_fd_floor=fd.floor(n=len(x0)), n_samples=len(x0))
            (out / 'metrics.json').write_text(json.dumps(metrics, indent=1)); print(metrics)

if __name__ == '__main__':
    main()
