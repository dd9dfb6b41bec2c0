"""Train the README's toy Swissroll model on the CPU and draw the data beside DDPM, DDIM and accelerated samples.

    python examples/swissroll_demo.py --out demo/swissroll.png
"""
import argparse
import numpy as np
import torch
from torch.utils.data import DataLoader
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from smalldiffusion import Swissroll, TimeInputMLP, ScheduleLogLinear, training_loop, samples
from smalldiffusion.fileio import atomic_write

SAMPLERS = {'DDPM (gam=1, mu=0.5)': dict(gam=1, mu=0.5), 'DDIM (gam=1, mu=0)': dict(gam=1, mu=0),
            'accelerated (gam=2, mu=0)': dict(gam=2, mu=0)}

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='demo/swissroll.png', help='PNG file to write')
    p.add_argument('--epochs', type=int, default=15000, help='training steps (one batch per epoch)')
    p.add_argument('--steps', type=int, default=20, help='sampling steps')
    p.add_argument('--n', type=int, default=1000, help='samples per sampler')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    for name in ('epochs', 'steps', 'n'):
        if getattr(args, name) < 1: p.error(f'--{name} must be >= 1')
    return args

def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    dataset = Swissroll(np.pi / 2, 5 * np.pi, 100)
    model = TimeInputMLP(hidden_dims=(16, 128, 128, 128, 128, 16))
    schedule = ScheduleLogLinear(N=200, sigma_min=0.005, sigma_max=10)
    loader = DataLoader(dataset, batch_size=2048)
    losses = [ns.loss.item() for ns in training_loop(loader, model, schedule, epochs=args.epochs)]
    fig, axs = plt.subplots(1, 4, figsize=(13, 3.4), sharex=True, sharey=True)
    axs[0].scatter(*dataset.vals.T, s=4); axs[0].set_title('data (100 points)')
    for ax, (name, kw) in zip(axs[1:], SAMPLERS.items()):
        *_, x0 = samples(model, schedule.sample_sigmas(args.steps), batchsize=args.n, **kw)
        ax.scatter(*x0.T, s=2, alpha=0.5); ax.set_title(f'{name}, {args.steps} steps', fontsize=9)
    for ax in axs:
        ax.set_aspect('equal'); ax.set_xlim(-1.5, 1.5); ax.set_ylim(-1.5, 1.5)
        ax.set_xticks([-1, 0, 1]); ax.set_yticks([-1, 0, 1])
    fig.suptitle(f'smalldiffusion toy model: final loss (mean of last 100) {np.mean(losses[-100:]):.3f}', fontsize=10)
    fig.tight_layout()
    out = atomic_write(args.out, lambda tmp: fig.savefig(tmp, format='png', dpi=110, bbox_inches='tight'))
    print(f'wrote {out.resolve()}')
    return out

if __name__ == '__main__': main()
