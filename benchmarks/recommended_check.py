"""Out-of-sample check of `recommended(schedule, nfe)` against diffusers' best single setting in the sampler benchmark
(UniPC-3 bh2 on the trailing grid stopping at σ_min), on four problems the benchmark never ran: a v-prediction MLP and
an ε-MLP of another width trained here on the digits, a 2-D swiss-roll MLP on a log-linear schedule, and an 8-D
mixture. Same grid, same noise (512 draws), error = distance to an RK4 solve (500 Karras steps) at σ_min; ratios with
paired-bootstrap intervals, and their geometric mean. DEIS-3 and DDIM on the same grid are printed beside them.

    python benchmarks/recommended_check.py     # 5-8 minutes on one CPU; writes results/recommended_check.json
"""
import sys, math, os, time, warnings
T0 = time.time()
from pathlib import Path
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE)); warnings.filterwarnings('ignore')
import numpy as np, torch
from diffusers.utils import logging as dlog; dlog.set_verbosity_error()
from smalldiffusion import (ScheduleDDPM, ScheduleLogLinear, TimeInputMLP, PredV, training_loop, GaussianMixture,
                            GaussianMixtureDenoiser, solve_pf_ode, samples, samples_eps_adams)
from smalldiffusion.model import Scaled
from smalldiffusion.samplers import sigmas_karras
from smalldiffusion.tuning import recommended
from peers import PEERS, run_peer
from protocol import bootstrap_ratio, bootstrap_geomean
torch.set_num_threads(1)
def digits():
    from sklearn.datasets import load_digits
    return torch.tensor(load_digits().data, dtype=torch.float32) / 8 - 1
def train(build, schedule, data, steps, seed, lr=2e-3):
    "`build()`'s network trained from `seed`: its initial weights too, whatever drew from torch's generator before."
    torch.manual_seed(seed); model = build()
    loader = torch.utils.data.DataLoader(data, batch_size=128, shuffle=True, drop_last=True)
    for _ in training_loop(loader, model, schedule, epochs=math.ceil(steps / len(loader)), lr=lr): pass
    return model.eval().double().requires_grad_(False)
def swiss(n=2000):
    g = torch.Generator().manual_seed(3); t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=g))
    return (torch.stack([t * t.cos(), t * t.sin()], 1) / 10).float()
ddpm = ScheduleDDPM(1000); loglin = ScheduleLogLinear(200, sigma_min=0.005, sigma_max=10)
PROBLEMS = [  # (name, model maker, schedule): trained here, seeded
    ('digits PredV MLP 128x3',
     lambda: train(lambda: PredV(TimeInputMLP)(dim=64, hidden_dims=(128,) * 3), ddpm, digits(), 1500, 0), ddpm),
    ('digits eps-MLP 256x2',
     lambda: train(lambda: Scaled(TimeInputMLP)(dim=64, hidden_dims=(256, 256)), ddpm, digits(), 3000, 1), ddpm),
    ('swissroll eps-MLP, log-linear',
     lambda: train(lambda: TimeInputMLP(dim=2, hidden_dims=(64,) * 3), loglin, swiss(), 3000, 2), loglin),
    ('8-D mixture seed 11', lambda: GaussianMixtureDenoiser(GaussianMixture.random(k=6, dim=8, seed=11)), ddpm)]
stat = lambda d, st: float(np.median(d)) if st == 'median' else float(np.sqrt((d ** 2).mean()))
out, pairs, cells = {}, {}, []
for name, make, sch in PROBLEMS:
    model = make(); d = model.input_dims[0]
    lo, hi = float(sch.sigmas.min()), float(sch.sigmas.max())
    x = hi * torch.randn(512, d, generator=torch.Generator().manual_seed(50_000), dtype=torch.float64)
    ref = solve_pf_ode(model, x, sigmas_karras(torch.tensor([lo, hi]), 500, final_zero=False))
    p = dict(name='oos', model=model, schedule=sch, sig_min=lo, sig_max=hi, x={'fresh': x}, sigma_data=1.)
    dist = lambda y: (y.double() - ref).norm(dim=1).numpy()
    for nfe in (5, 10, 20, 50):
        sampler, sigmas = recommended(sch, nfe)
        *_, y = sampler(model, sigmas, xt=x)
        yp, calls = run_peer(PEERS['UniPC-3 bh2'], p, 'trailing', nfe, 'fresh', 'sigma_min')
        *_, yd = samples_eps_adams(model, sigmas, xt=x)          # DEIS-3 on the same grid
        *_, ydd = samples(model, sigmas, xt=x)                    # DDIM on the same grid
        do, dp = dist(y), dist(yp)
        pairs.setdefault(name, []).extend([(do, dp, 'median'), (do, dp, 'rms')])
        for st in ('median', 'rms'):
            r = bootstrap_ratio(do, dp, st, seed=nfe)
            cells.append(dict(problem=name, nfe=nfe, stat=st, **r))
            print(f"{name:32s} {nfe:3d} {st:6s} rec/UniPC {r['ratio']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}] "
                  f"{r['verdict']:5s} rec {r['ours']:.3g} UniPC {r['peer']:.3g} DEIS-3 {stat(dist(yd), st):.3g} "
                  f"DDIM {stat(dist(ydd), st):.3g}", flush=True)
g = bootstrap_geomean(pairs)
print('geomean rec / UniPC-3 bh2 trailing σ_min:', g)
from samplers import write_json
write_json(dict(cells=cells, geomean=g, seconds=time.time() - T0, hardware=f'{os.cpu_count()} CPUs, 1 torch thread'),
           HERE / 'results' / 'recommended_check.json')
