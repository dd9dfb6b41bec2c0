"""Train a U-Net on CIFAR-10: the published smalldiffusion configuration (DDPM's 35.7M-parameter U-Net).

    accelerate launch examples/cifar_unet.py --mixed-precision bf16   # CIFAR-10, downloaded to ./datasets
    python examples/cifar_unet.py --dataset digits --epochs 20 --batch-size 128 --ch 32 --fd   # offline, CPU

Trains on the sigmoid schedule and samples 10 steps with gam=2.1 on a log-linear schedule reaching sigma=35.
Writes to --out: `last.safetensors` (the same command resumes from it; --no-resume starts over), `final.safetensors`
(model + EMA) and `samples.png`.
"""
import sys
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from smalldiffusion import Unet, Scaled, ScheduleSigmoid, ScheduleLogLinear, make_ema, training_loop, save_checkpoint
from smalldiffusion.image import image_dataset
from image_common import image_args, parse_options, checkpoint_paths, resume_hint, sample, finish

def parser():
    p = image_args(__doc__, dataset='cifar10',
                   dataset_help="'digits': scikit-learn's bundled digits as 3-channel 32x32 images, no download",
                   epochs=1000, batch_size=256, lr=2e-4, ema_decay=0.9999, out='runs/cifar_unet', save_every=5000,
                   sample_batch_size=64, sample_steps=10)
    p.add_argument('--ch', type=int, default=128, help='U-Net base width')
    return p

def main(argv=None, **options):
    """Train and sample. `argv`: command-line options (None: the defaults); keywords override them, as in 0.5:
    `main(epochs=10, train_batch_size=256, sample_batch_size=16)`."""
    args = parse_options(parser(), argv, **options)
    set_seed(args.seed)
    a = Accelerator(mixed_precision=args.mixed_precision)
    dataset = image_dataset(args.dataset, size=32, channels=3, root=args.data_dir)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(dataset) > args.batch_size)
    model = Scaled(Unet)(32, 3, 3, ch=args.ch, ch_mult=(1, 2, 2, 2), attn_resolutions=(16,))
    ema = make_ema(model, decay=args.ema_decay).to(a.device)

    # train, checkpointing to OUT/last.safetensors every --save-every steps and at --max-steps
    ckpt, resume = checkpoint_paths(args, a)            # resume from OUT/last.safetensors unless --no-resume
    with resume_hint(ckpt, resume):
        loop = training_loop(loader, model, ScheduleSigmoid(N=1000), epochs=args.epochs, lr=args.lr, accelerator=a,
                             ema=ema, resume_from=resume)
    for ns in loop:
        ns.pbar.set_description(f'loss={ns.loss.item():.4f}')
        if ns.step == args.max_steps: save_checkpoint(ckpt, ns); break  # resumable: state after max_steps steps
        if ns.step and ns.step % args.save_every == 0: save_checkpoint(ckpt, ns)
    steps = ns.step if ns.step == args.max_steps else ns.step + 1   # ns is yielded before its step's update

    sample_schedule = ScheduleLogLinear(sigma_min=0.01, sigma_max=35, N=1000)
    x0 = sample(args, a, ema, sample_schedule.sample_sigmas(args.sample_steps), gam=2.1)   # the EMA weights
    finish(args, a, model, ema, steps, x0)

if __name__ == '__main__':
    main(sys.argv[1:])
