"""Train a U-Net on FashionMNIST: the published smalldiffusion configuration (FID about 12-13 after ~2 h on one GPU).

    accelerate launch examples/fashion_mnist_unet.py                  # FashionMNIST, downloaded to ./datasets
    python examples/fashion_mnist_unet.py --dataset digits --epochs 20 --batch-size 128 --ch 32 --fd   # offline, CPU

Writes to --out: `last.safetensors` (the same command resumes from it; --no-resume starts over), `final.safetensors`
(model + EMA) and `samples.png`.
"""
import sys
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from smalldiffusion import Unet, Scaled, ScheduleLogLinear, make_ema, training_loop, save_checkpoint
from smalldiffusion.image import image_dataset
from image_common import image_args, parse_options, checkpoint_paths, resume_hint, sample, finish

def parser():
    p = image_args(__doc__, dataset='fashion_mnist',
                   dataset_help="'digits': scikit-learn's bundled digits resized to 28x28, no download",
                   epochs=300, batch_size=1024, lr=7e-4, ema_decay=0.999, out='runs/fashion_mnist_unet',
                   save_every=2000, sample_batch_size=64, sample_steps=20)
    p.add_argument('--ch', type=int, default=64, help='U-Net base width')
    return p

def main(argv=None, **options):
    """Train and sample. `argv`: command-line options (None: the defaults); keywords override them, as in 0.5:
    `main(epochs=10, train_batch_size=256, sample_batch_size=16)`."""
    args = parse_options(parser(), argv, **options)
    set_seed(args.seed)
    a = Accelerator(mixed_precision=args.mixed_precision)
    dataset = image_dataset(args.dataset, size=28, channels=1, root=args.data_dir)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(dataset) > args.batch_size)
    schedule = ScheduleLogLinear(sigma_min=0.01, sigma_max=20, N=800)
    model = Scaled(Unet)(28, 1, 1, ch=args.ch, ch_mult=(1, 1, 2), attn_resolutions=(14,))
    ema = make_ema(model, decay=args.ema_decay).to(a.device)

    # train, checkpointing to OUT/last.safetensors every --save-every steps and at --max-steps
    ckpt, resume = checkpoint_paths(args, a)            # resume from OUT/last.safetensors unless --no-resume
    with resume_hint(ckpt, resume):
        loop = training_loop(loader, model, schedule, epochs=args.epochs, lr=args.lr, accelerator=a, ema=ema,
                             resume_from=resume)
    for ns in loop:
        ns.pbar.set_description(f'loss={ns.loss.item():.4f}')
        if ns.step == args.max_steps: save_checkpoint(ckpt, ns); break  # resumable: state after max_steps steps
        if ns.step and ns.step % args.save_every == 0: save_checkpoint(ckpt, ns)
    steps = ns.step if ns.step == args.max_steps else ns.step + 1   # ns is yielded before its step's update

    x0 = sample(args, a, ema, schedule.sample_sigmas(args.sample_steps), gam=1.6)   # the EMA weights
    finish(args, a, model, ema, steps, x0)

if __name__ == '__main__':
    main(sys.argv[1:])
