"""Sampler benchmark: error vs number of model evaluations (NFE) on an exact-score Gaussian mixture.

Ours (`samples_trig_pc` on `sigmas_trig`) against diffusers' DDIM, Euler, Heun, DPM-Solver++(2M), UniPC and DEIS
schedulers (plus their third-order settings), each on a trailing and a Karras grid, from identical starting noise at the
top of ScheduleDDPM(1000). The error of a sample is its L2 distance to a fine RK4 solve of the probability-flow ODE from
the same noise; we report the median and the RMS over the batch, and print ours / best peer per budget (best over every
peer and grid, taken separately for each statistic). Stochastic samplers are compared by the sliced Wasserstein
distance of their samples to fresh draws of the mixture (each side on its best grid).

    python benchmarks/samplers.py                  # about a minute on 2 CPUs
    python benchmarks/samplers.py --seeds 0 1 2    # other mixtures and noise
    python benchmarks/samplers.py --json out.json  # also write the numbers
"""
import argparse, json, math, os, tempfile, time, warnings

import torch
from tqdm.auto import tqdm
from diffusers import (DDIMScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler, DPMSolverMultistepScheduler,
                       UniPCMultistepScheduler, DEISMultistepScheduler)
from smalldiffusion import ScheduleDDPM
from smalldiffusion.samplers import (sigmas_karras, sigmas_trig, samples_trig_pc, samples_dpmpp_2m, samples_heun,
                                     samples_dpmpp_2m_sde)
from smalldiffusion.mixture import GaussianMixture, GaussianMixtureDenoiser, solve_pf_ode

BUDGETS = (5, 10, 20, 50)
BETAS = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule='linear')  # = ScheduleDDPM(1000)
TRAILING, KARRAS = dict(timestep_spacing='trailing'), dict(use_karras_sigmas=True)
# name -> (scheduler class, extra constructor args, grids)
PEERS = {
    'DDIM': (DDIMScheduler, {}, {'trailing': TRAILING}),           # diffusers' DDIM has no Karras option
    'Euler': (EulerDiscreteScheduler, {}, {'trailing': TRAILING, 'karras': KARRAS}),
    'Heun': (HeunDiscreteScheduler, {}, {'trailing': TRAILING, 'karras': KARRAS}),
    'DPM++(2M)': (DPMSolverMultistepScheduler, {}, {'trailing': TRAILING, 'karras': KARRAS}),
    'UniPC': (UniPCMultistepScheduler, {}, {'trailing': TRAILING, 'karras': KARRAS}),
    'DEIS': (DEISMultistepScheduler, {}, {'trailing': TRAILING, 'karras': KARRAS}),
    'DPM++(3M)': (DPMSolverMultistepScheduler, dict(solver_order=3), {'trailing': TRAILING, 'karras': KARRAS}),
    'UniPC-3': (UniPCMultistepScheduler, dict(solver_order=3), {'trailing': TRAILING, 'karras': KARRAS}),
    'DEIS-3': (DEISMultistepScheduler, dict(solver_order=3), {'trailing': TRAILING, 'karras': KARRAS}),
}
VE_FORM = (EulerDiscreteScheduler, HeunDiscreteScheduler)   # these step x = x0 + σε; the others x / sqrt(1 + σ²)


def peer_steps(cls, nfe: int) -> int:
    "Sampling steps that fit in `nfe` model calls (Heun: 2 per step, 1 for the last)."
    return (nfe + 1) // 2 if cls is HeunDiscreteScheduler else nfe


@torch.no_grad()
def run_peer(cls, kwargs: dict, nfe: int, x_start, model, noise=None):
    "Final sample of a diffusers scheduler from σ-form noise `x_start`; the model is called at the scheduler's own σ."
    sch = cls(**BETAS, **kwargs)
    sch.set_timesteps(peer_steps(cls, nfe))
    if cls is DDIMScheduler:
        ac = sch.alphas_cumprod.double()
        sigs = [float(((1 - ac[t]) / ac[t]).sqrt()) for t in sch.timesteps]
    else:
        sch.sigmas = sch.sigmas.double()
    calls = 0
    if cls in VE_FORM:
        x = x_start.clone()
        for t in sch.timesteps:
            sch.scale_model_input(x, t)
            x = sch.step(model(x, sch.sigmas[sch.step_index]), t, x).prev_sample
            calls += 1
        return x, calls
    s0 = sigs[0] if cls is DDIMScheduler else float(sch.sigmas[0])
    x = x_start / math.sqrt(1 + s0**2)
    for i, t in enumerate(sch.timesteps):
        sig = sigs[i] if cls is DDIMScheduler else float(sch.sigmas[i])
        extra = {} if noise is None else dict(variance_noise=noise[i])
        x = sch.step(model(x * math.sqrt(1 + sig**2), x.new_tensor(sig)), t, x, **extra).prev_sample
        calls += 1
    return x.double(), calls   # the last σ is 0: x^VP = x


def ours_order(steps: int) -> int:
    "The benchmark's recipe: second order below 8 steps, third order from there."
    return 2 if steps < 8 else 3


def run_ours(model, x_start, nfe: int, schedule, sigma_data: float) -> dict:
    "Final samples of our samplers at `nfe` model calls: the headline (trig PC) and ablations."
    trig = sigmas_trig(schedule, nfe, sigma_data=sigma_data)
    karras = sigmas_karras(schedule, nfe)
    last = lambda gen: list(gen)[-1]
    pc = dict(order=ours_order(nfe), sigma_data=sigma_data)
    return {
        'trig PC, trig grid (ours)': last(samples_trig_pc(model, trig, xt=x_start, **pc)),
        'trig PC, karras grid': last(samples_trig_pc(model, karras, xt=x_start, **pc)),
        'DPM++(2M), trig grid': last(samples_dpmpp_2m(model, trig, xt=x_start)),
        'DPM++(2M), karras grid': last(samples_dpmpp_2m(model, karras, xt=x_start)),
        'Heun, karras grid': last(samples_heun(model, sigmas_karras(schedule, (nfe + 1) // 2), xt=x_start)),
    }


def errors(x, ref) -> tuple:
    "(median, RMS) over the batch of the L2 distance to the reference."
    d = (x.double() - ref).norm(dim=1)
    return float(d.median()), float(d.pow(2).mean().sqrt())


def sliced_wasserstein(a, b, n_proj: int=256, seed: int=0) -> float:
    "Sliced 2-Wasserstein distance between two equal-size point clouds (random directions, sorted projections)."
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(a.shape[1], n_proj, generator=g, dtype=torch.float64)
    dirs /= dirs.norm(dim=0)
    pa, pb = (a.double() @ dirs).sort(0).values, (b.double() @ dirs).sort(0).values
    return float((pa - pb).pow(2).mean().sqrt())


def run_benchmark(seed: int=0, batch: int=500, budgets=BUDGETS, sde_batch: int=2000, ref_steps: int=2000,
                  progress: bool=True) -> dict:
    "All numbers for one mixture and one batch of starting noise."
    torch.manual_seed(seed)
    mix = GaussianMixture.random(k=8, dim=16, seed=seed)
    model = GaussianMixtureDenoiser(mix)
    schedule = ScheduleDDPM(1000)
    sig_max = float(schedule.sigmas.max())
    x_start = sig_max * torch.randn(batch, 16, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    fine = lambda n: torch.cat([sigmas_karras(torch.tensor([1e-4, sig_max]), n, final_zero=False), torch.zeros(1, dtype=torch.float64)])
    ref = solve_pf_ode(model, x_start, fine(ref_steps))
    ref_err = errors(solve_pf_ode(model, x_start, fine(ref_steps // 2)), ref)
    out = dict(seed=seed, batch=batch, sigma_data=mix.sigma_data, ref_error_half_steps=ref_err, ode={}, sde={})
    jobs = [(name, grid, nfe) for name, (_, _, grids) in PEERS.items() for grid in grids for nfe in budgets]
    for name, grid, nfe in tqdm(jobs, desc=f'peers (seed {seed})', leave=False, disable=not progress):
        cls, extra, grids = PEERS[name]
        x, calls = run_peer(cls, {**extra, **grids[grid]}, nfe, x_start, model)
        out['ode'][f'{name}, {grid}|{nfe}'] = dict(peer=True, nfe=calls, **dict(zip(('median', 'rms'), errors(x, ref))))
    for nfe in tqdm(budgets, desc='ours', leave=False, disable=not progress):
        for name, x in run_ours(model, x_start, nfe, schedule, mix.sigma_data).items():
            calls = 2 * ((nfe + 1) // 2) - 1 if name.startswith('Heun') else nfe
            out['ode'][f'{name}|{nfe}'] = dict(peer=False, nfe=calls, **dict(zip(('median', 'rms'), errors(x, ref))))
    out['sde'] = run_sde(mix, model, schedule, budgets, sde_batch, seed)
    return out


def run_sde(mix, model, schedule, budgets, n: int, seed: int) -> dict:
    "Sliced W2 to fresh draws: our DPM++(2M) SDE (eta 1 and 0.5, three grids) vs diffusers' sde-dpmsolver++ (two grids)."
    sig_max = float(schedule.sigmas.max())
    fresh = mix.sample(n, torch.Generator().manual_seed(seed + 100))
    res = {'floor (fresh vs fresh)': sliced_wasserstein(mix.sample(n, torch.Generator().manual_seed(seed + 101)), fresh)}
    for nfe in budgets:
        x_start = sig_max * torch.randn(n, 16, generator=torch.Generator().manual_seed(seed + 2), dtype=torch.float64)
        for grid in ('trailing', 'karras'):
            torch.manual_seed(seed + 3)
            x, _ = run_peer(DPMSolverMultistepScheduler, dict(algorithm_type='sde-dpmsolver++', **{'trailing': TRAILING, 'karras': KARRAS}[grid]),
                            nfe, x_start, model)
            res[f'diffusers sde-dpmsolver++, {grid}|{nfe}'] = sliced_wasserstein(x, fresh)
        trailing = torch.cat([schedule.sample_sigmas(nfe)[:-1].double(), torch.zeros(1, dtype=torch.float64)])  # = diffusers' trailing
        grids = dict(trailing=trailing, karras=sigmas_karras(schedule, nfe), trig=sigmas_trig(schedule, nfe, sigma_data=mix.sigma_data))
        for eta in (1., 0.5):
            for grid, sigs in grids.items():
                torch.manual_seed(seed + 3)
                x = list(samples_dpmpp_2m_sde(model, sigs, xt=x_start, eta=eta))[-1]
                res[f'ours DPM++(2M) SDE eta={eta}, {grid}|{nfe}'] = sliced_wasserstein(x, fresh)
        torch.manual_seed(seed + 3)
        pc = list(samples_trig_pc(model, sigmas_trig(schedule, nfe, sigma_data=mix.sigma_data), xt=x_start,
                                  order=ours_order(nfe), sigma_data=mix.sigma_data))[-1]
        res[f'ours trig PC (ODE), trig|{nfe}'] = sliced_wasserstein(pc, fresh)
    return res


def best(table: dict, nfe: int, stat: str, peer: bool) -> tuple:
    "(value, name) of the best entry at this budget."
    rows = [(v[stat], k.split('|')[0]) for k, v in table.items() if k.endswith(f'|{nfe}') and v['peer'] == peer]
    return min(rows)


def report(res: dict, budgets=BUDGETS) -> list:
    "Print the tables; return the ratio rows."
    ode, ours = res['ode'], 'trig PC, trig grid (ours)'
    print(f"\nseed {res['seed']}: 16-D mixture of 8 Gaussians (σ_data = {res['sigma_data']:.3f}), batch {res['batch']}, "
          f"start at σ_max of ScheduleDDPM(1000); reference RK4 vs half its steps: median {res['ref_error_half_steps'][0]:.1e}")
    names = sorted({k.split('|')[0] for k in ode}, key=lambda k: (not ode[f'{k}|{budgets[0]}']['peer'], k))
    print(f"{'median / RMS distance to the reference':44s}" + ''.join(f'{f"NFE {b}":>20s}' for b in budgets))
    for k in names:
        print(f'{k:44s}' + ''.join(f"{ode[f'{k}|{b}']['median']:9.2e} / {ode[f'{k}|{b}']['rms']:8.2e}" for b in budgets))
    rows = []
    print('\nours / best peer (best peer per statistic, over every peer and grid)')
    for b in budgets:
        row = dict(nfe=b)
        for stat in ('median', 'rms'):
            (pv, pn), ov = best(ode, b, stat, True), ode[f'{ours}|{b}'][stat]
            row[stat] = ov / pv
            print(f'  NFE {b:3d} {stat:6s}: ours {ov:.3e}  best peer {pv:.3e} ({pn})  ratio {ov / pv:.3f}')
        rows.append(row)
    sde = res['sde']
    print(f"\nstochastic: sliced W2 to fresh mixture draws (floor {sde['floor (fresh vs fresh)']:.4f})")
    for b in budgets:
        peer = min(v for k, v in sde.items() if k.startswith('diffusers') and k.endswith(f'|{b}'))
        mine = {eta: min(v for k, v in sde.items() if k.startswith(f'ours DPM++(2M) SDE eta={eta},') and k.endswith(f'|{b}'))
                for eta in (1., 0.5)}
        print(f'  NFE {b:3d}: diffusers SDE {peer:.4f}   ours SDE (eta 1) {mine[1.]:.4f} ratio {mine[1.] / peer:.3f}   '
              f"ours SDE (eta 0.5) {mine[0.5]:.4f} ratio {mine[0.5] / peer:.3f}   (ours ODE trig PC {sde[f'ours trig PC (ODE), trig|{b}']:.4f})")
    return rows


def write_json(obj, path: str):
    "Write atomically (temp file + os.replace)."
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, suffix='.json')
    with os.fdopen(fd, 'w') as f: json.dump(obj, f, indent=1)
    os.replace(tmp, path)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--batch', type=int, default=500)
    p.add_argument('--json', default=None, help='also write all numbers to this file')
    args = p.parse_args()
    warnings.filterwarnings('ignore')
    torch.set_num_threads(min(2, torch.get_num_threads()))
    t0, results = time.time(), []
    for seed in args.seeds:
        res = run_benchmark(seed, args.batch)
        res['ratios'] = report(res)
        results.append(res)
    print(f'\n{time.time() - t0:.0f} s')
    if args.json: write_json(results, args.json)
