"""Train a diffusion transformer (DiT) on FashionMNIST: the published smalldiffusion configuration (FID about 5-6).

    accelerate launch examples/fashion_mnist_dit.py                      # unconditional
    accelerate launch examples/fashion_mnist_dit.py --conditional        # class labels, classifier-free guidance
    python examples/fashion_mnist_dit.py --dataset digits --conditional --epochs 20 --batch-size 128 --depth 2  # CPU

Writes to --out: `last.safetensors` (the same command resumes from it; --no-resume starts over), `final.safetensors`
(model + EMA) and `samples.png` (with --conditional, one column per class).
"""
import sys
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from torch.utils.data import DataLoader
from smalldiffusion import DiT, CondEmbedderLabel, ScheduleDDPM, make_ema, training_loop, save_checkpoint
from smalldiffusion.image import image_dataset
from image_common import image_args, parse_options, checkpoint_paths, resume_hint, sample, finish

def parser():
    p = image_args(__doc__, dataset='fashion_mnist',
                   dataset_help="'digits': scikit-learn's bundled digits resized to 28x28, no download",
                   epochs=300, batch_size=1024, lr=1e-3, ema_decay=0.99, out='runs/fashion_mnist_dit', save_every=2000,
                   sample_batch_size=80, sample_steps=20)
    p.add_argument('--conditional', action='store_true', help='condition on class labels; sample with guidance')
    p.add_argument('--cfg-scale', type=float, default=2.0, help='classifier-free guidance scale (0: none)')
    p.add_argument('--depth', type=int, default=6)
    p.add_argument('--head-dim', type=int, default=32)
    p.add_argument('--num-heads', type=int, default=6)
    return p

def main(argv=None, **options):
    """Train and sample. `argv`: command-line options (None: the defaults); keywords override them, as in 0.5:
    `main(epochs=10, train_batch_size=256, sample_batch_size=16)`."""
    args = parse_options(parser(), argv, **options)
    set_seed(args.seed)
    a = Accelerator(mixed_precision=args.mixed_precision)
    dataset = image_dataset(args.dataset, size=28, channels=1, labels=args.conditional, root=args.data_dir)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=len(dataset) > args.batch_size)
    schedule = ScheduleDDPM(beta_start=0.0001, beta_end=0.02, N=1000)
    dim = args.head_dim * args.num_heads
    cond_embed = CondEmbedderLabel(dim, num_classes=10, dropout_prob=0.1) if args.conditional else None
    model = DiT(in_dim=28, channels=1, patch_size=2, depth=args.depth, head_dim=args.head_dim,
                num_heads=args.num_heads, mlp_ratio=4.0, cond_embed=cond_embed)
    ema = make_ema(model, decay=args.ema_decay).to(a.device)

    # train, checkpointing to OUT/last.safetensors every --save-every steps and at --max-steps
    ckpt, resume = checkpoint_paths(args, a)            # resume from OUT/last.safetensors unless --no-resume
    with resume_hint(ckpt, resume):
        loop = training_loop(loader, model, schedule, epochs=args.epochs, lr=args.lr, accelerator=a, ema=ema,
                             conditional=args.conditional, resume_from=resume)
    for ns in loop:
        ns.pbar.set_description(f'loss={ns.loss.item():.4f}')
        if ns.step == args.max_steps: save_checkpoint(ckpt, ns); break  # resumable: state after max_steps steps
        if ns.step and ns.step % args.save_every == 0: save_checkpoint(ckpt, ns)
    steps = ns.step if ns.step == args.max_steps else ns.step + 1   # ns is yielded before its step's update

    # the EMA weights; conditional: labels 0..9 in every row of the grid
    cond = torch.arange(args.sample_batch_size) % 10 if args.conditional else None
    x0 = sample(args, a, ema, schedule.sample_sigmas(args.sample_steps), gam=1.6, cond=cond,
                cfg_scale=args.cfg_scale if args.conditional else 0.)
    finish(args, a, model, ema, steps, x0, nrow=10 if args.conditional else 8)

if __name__ == '__main__':
    main(sys.argv[1:])
