"""Train a U-Net on CIFAR-10: the published smalldiffusion configuration (DDPM's 35.7M-parameter U-Net).

    accelerate launch examples/cifar_unet.py --mixed-precision bf16   # CIFAR-10, downloaded to ./datasets
    python examples/cifar_unet.py --dataset digits --epochs 20 --batch-size 128 --ch 32 --fd   # offline, CPU

Trains on the sigmoid schedule and samples 10 steps with gam=2.1 on a log-linear schedule reaching sigma=35.
Writes to --out: `last.safetensors` (resumable with --resume), `final.safetensors` (model + EMA) and `samples.png`.
"""
import argparse, json
from pathlib import Path
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from tqdm import tqdm
from smalldiffusion import (Unet, Scaled, ScheduleSigmoid, ScheduleLogLinear, samples, training_loop, make_ema,
                            save_checkpoint)
from smalldiffusion.image import image_dataset, save_grid, DigitsFD

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', choices=['cifar10', 'digits'], default='cifar10',
                   help="'digits': scikit-learn's bundled digits as 3-channel 32x32 images, no download")
    p.add_argument('--data-dir', default='datasets')
    p.add_argument('--epochs', type=int, default=1000)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--lr', type=float, default=2e-4)
    p.add_argument('--ema-decay', type=float, default=0.9999)
    p.add_argument('--ch', type=int, default=128, help='U-Net base width')
    p.add_argument('--mixed-precision', choices=['no', 'fp16', 'bf16'], default='no')
    p.add_argument('--out', default='runs/cifar_unet', help='output folder')
    p.add_argument('--save-every', type=int, default=5000, help='steps between checkpoints')
    p.add_argument('--max-steps', type=int, default=None, help='stop (with a checkpoint) after this many steps')
    p.add_argument('--resume', action='store_true', help='continue from OUT/last.safetensors if it exists')
    p.add_argument('--sample-batch-size', type=int, default=64)
    p.add_argument('--sample-steps', type=int, default=10)
    p.add_argument('--fd', action='store_true', help='digits only: report the digits Frechet distance of the samples')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)

def main(argv=None):
    args = parse_args(argv)
    set_seed(args.seed)
    a, out = Accelerator(mixed_precision=args.mixed_precision), Path(args.out)
    dataset = image_dataset(args.dataset, size=32, channels=3, root=args.data_dir)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(dataset) > args.batch_size)
    train_schedule = ScheduleSigmoid(N=1000)
    model = Scaled(Unet)(32, 3, 3, ch=args.ch, ch_mult=(1, 2, 2, 2), attn_resolutions=(16,))
    ema = make_ema(model, decay=args.ema_decay).to(a.device)

    # Train
    ckpt = out / 'last.safetensors'
    resume = ckpt if args.resume and ckpt.exists() else None
    for ns in training_loop(loader, model, train_schedule, epochs=args.epochs, lr=args.lr, accelerator=a, ema=ema,
                            resume_from=resume):
        ns.pbar.set_description(f'loss={ns.loss.item():.4f}')
        if ns.step == args.max_steps: save_checkpoint(ckpt, ns); break  # resumable: state after max_steps steps
        if ns.step and ns.step % args.save_every == 0: save_checkpoint(ckpt, ns)

    # Sample with the EMA weights
    sample_schedule = ScheduleLogLinear(sigma_min=0.01, sigma_max=35, N=1000)
    *_, x0 = tqdm(samples(ema.module, sample_schedule.sample_sigmas(args.sample_steps), gam=2.1,
                          batchsize=args.sample_batch_size, accelerator=a), total=args.sample_steps, desc='sampling')
    steps_done = ns.step if ns.step == args.max_steps else ns.step + 1  # ns is yielded before its step's update
    if a.is_main_process:
        save_checkpoint(out / 'final.safetensors', model=a.unwrap_model(model), ema=ema, extra=dict(steps=steps_done))
        print('samples:', save_grid(x0, out / 'samples.png'))
        if args.fd and args.dataset == 'digits':
            fd = DigitsFD()
            metrics = dict(digits_fd=fd(x0), digits_fd_floor=fd.floor(n=len(x0)), n_samples=len(x0))
            (out / 'metrics.json').write_text(json.dumps(metrics, indent=1)); print(metrics)

if __name__ == '__main__':
    main()
