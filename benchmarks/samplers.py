"""Sampler benchmark on fair ground: every sampler, ours and diffusers', on the same σ grids, counted by model calls.

Problems (all start from the top of ScheduleDDPM(1000), σ_max = 157, with the same noise for every sampler):
  mixture16   16-D mixture of 8 Gaussians, exact score (the problem our defaults were fixed on)
  wide4       4-D mixture of 5 Gaussians with very unequal scales (std 0.006 .. 6) and σ_data ≈ 2.8, exact score
  digits_mlp  an MLP ε-model trained here on sklearn's 8x8 digits (64-D) for a few minutes, cached in
              benchmarks/cache/ (not committed: no sampler setting was chosen on it)
The error of a sample is its L2 distance to a reference from the same noise: a fine RK4 solve of the same model's
probability-flow ODE (to σ = 0 for the exact mixtures; to the training σ_min = 0.01 and then its denoised estimate
for the network, which every sampler's last step also takes). We report the median and the RMS over the batch.

Grids: 'trailing' (diffusers' trailing spacing), 'karras' (ρ = 7), 'trig' (`sigmas_trig` with σ_data, the data's
standard deviation), and at 5, 10 and 20 evaluations two grids calibrated on the model (`sigmas_calibrated`, as Align
Your Steps: one for our eps-Adams order 2 with corrector weight 0.5, one for DEIS-2, on 128 draws of calibration noise
with their own seed; Heun, two calls per step, skips them), each with two ends, as diffusers' `final_sigmas_type`:
'zero' (the last step goes to σ = 0) and 'sigma_min' (every step stays above the schedule's σ_min; the sample is
returned there and its error includes the distance from σ_min to 0). Every grid and end is injected into every
diffusers scheduler (`sigmas`/`timesteps` overwritten after `set_timesteps`), except DDIMScheduler, whose step
indexes the training ᾱ by integer timestep: it runs on its native trailing grid only. DEISMultistepScheduler cannot
step to σ = 0 (its λ is infinite there): it runs the 'sigma_min' ends only (as its own `set_timesteps` does, without
the repeated σ_min its Karras option ends with).

Step weights calibrated on the model: at 5 evaluations, on every grid and end, `samples_calibrated` runs with weights
that `calibrate_weights` fits for that model and grid (defaults: order 3, ridge 0.01; 1024 draws of calibration noise
with their own seed; its fine solve stops where the reference's does, 1e-4 for the mixtures and the training σ_min for
the network). The fit is not convex: moving the calibration noise by 1e-13 moves the errors by under 3% at 5
evaluations but by tens of percent at 10, so it is used at 5 only. Its seconds are in each problem's
calibration_seconds, with the grids'.

Headlines per problem and budget: best of ours / best peer, (a) on the trailing and Karras grids only, (b) on every
grid; the best is taken over samplers, settings, grids and ends on both sides alike, separately for median and RMS.
Our settings (orders 2 and 3, corrector weights 1, 0.75, 0.5, 0.25 and 0, lower-order final steps or not; the
calibration's defaults) are a fixed list, the weights and the ridge chosen on mixture16 (0.25 and 0.75 added after
0.75 to 0.9 beat full correction on the RMS at 10 evaluations on two other random 16-D mixtures, seeds 1 and 2); no
setting is chosen per problem or per budget.

Code: problems.py (the problems and their references), grids.py (the σ grids, and those calibrated on a model),
peers.py (diffusers' schedulers on our grids); this file: our samplers' settings, the runs, the scoring, the JSON and
the plot.

    python benchmarks/samplers.py            # everything: benchmarks/results/*.json and *.png (about 20 min, 2 CPUs)
    python benchmarks/samplers.py --quick    # small batches, for a smoke run
"""
import argparse, itertools, json, math, os, statistics, sys, tempfile, time, warnings
from pathlib import Path

import numpy as np
import torch
from diffusers import (DDIMScheduler, HeunDiscreteScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler,
                       DEISMultistepScheduler)
from smalldiffusion import samples
from smalldiffusion.samplers import samples_dpmpp_2m, samples_heun, samples_dpmpp_2m_sde
from smalldiffusion.adams import samples_trig_pc, samples_eps_adams, samples_x0_adams
from smalldiffusion.calibration import samples_calibrated, deis_weights

HERE = Path(__file__).parent
if str(HERE) not in sys.path: sys.path.insert(0, str(HERE))   # its modules, also when loaded from its path (tests/)
from problems import SIG_MAX, make_problem
from grids import GRIDS, ENDS, CALIBRATED, CAL_BUDGETS, CAL_SECONDS, heun_steps, make_grid, calibrated_weights
from peers import PEERS, SDE_PEERS, run_peer, peer_loop
from peers import BETAS, peer_steps  # noqa: F401  (tests/ and nbs/02c read them here, as bench.BETAS and so on)

RESULTS = HERE / 'results'
BUDGETS = (5, 10, 20, 50)
RESTRICTED = ('trailing', 'karras')

# ---------------------------------------------------------------- ours
CALIBRATED_SAMPLER = 'samples_calibrated order 3'   # step weights fitted on the model, at WEIGHT_BUDGETS only
# where the fit is reproducible: noise moved by 1e-13 moves its errors by < 3% at 5, by tens of % at 10
WEIGHT_BUDGETS = (5,)

def _ours() -> dict:
    "name -> (sampler(model, sigmas, xt, sigma_data), steps for a budget): the package's ODE samplers and settings."
    one = lambda nfe, end: nfe
    adams = {}
    for form, f in (('eps', samples_eps_adams), ('x0', samples_x0_adams)):
        for order in (2, 3):
            for c in (1., 0.75, 0.5, 0.25, 0.):
                for lof in (False, True):
                    kw = dict(order=order, corrector=c, lower_order_final=lof)
                    name = (f'samples_{form}_adams order {order}, corrector {c:g}'
                            + (', lower-order final' if lof else ''))
                    adams[name] = ((lambda f, kw: lambda m, s, x, sd: f(m, s, xt=x, **kw))(f, kw), one)
    return adams | {
        'samples (DDIM)': (lambda m, s, x, sd: samples(m, s, xt=x), one),
        'samples gam=2': (lambda m, s, x, sd: samples(m, s, gam=2., xt=x), one),
        'samples_heun': (lambda m, s, x, sd: samples_heun(m, s, xt=x), heun_steps),
        'samples_dpmpp_2m': (lambda m, s, x, sd: samples_dpmpp_2m(m, s, xt=x), one),
        'samples_trig_pc order 2': (lambda m, s, x, sd: samples_trig_pc(m, s, xt=x, order=2, sigma_data=sd), one),
        'samples_trig_pc order 3': (lambda m, s, x, sd: samples_trig_pc(m, s, xt=x, order=3, sigma_data=sd), one),
        CALIBRATED_SAMPLER: (lambda m, s, x, sd: samples_calibrated(m, s, xt=x, weights=calibrated_weights(m.model, s)),
                             one),
    }

OURS = _ours()

class CountedModel(torch.nn.Module):
    "A model wrapper counting predict_eps calls, for our samplers."
    def __init__(self, model):
        super().__init__(); self.model, self.calls, self.input_dims = model, 0, model.input_dims
    def rand_input(self, b): return self.model.rand_input(b)
    def predict_eps_cfg(self, x, sigma, cond, cfg_scale):
        self.calls += 1
        return self.model.predict_eps(x, sigma)

def run_ours(name: str, grid: str, nfe: int, x_start, model, sigma_data: float, end: str='zero'):
    sampler, steps = OURS[name]
    if name == CALIBRATED_SAMPLER and nfe not in WEIGHT_BUDGETS: return None, 0
    if grid in CALIBRATED and steps(nfe, end) != nfe: return None, 0   # calibrated for one call per step: not Heun
    m = CountedModel(model)
    sigs = make_grid(grid, steps(nfe, end), sigma_data, final_zero=end == 'zero', model=model)
    *_, x = sampler(m, sigs, x_start, sigma_data)
    return x, m.calls

# ---------------------------------------------------------------- ODE benchmark
def errors(x, ref) -> dict:
    d = (x.double() - ref).norm(dim=1)
    if not torch.isfinite(d).all(): return dict(median=math.nan, rms=math.nan)   # diverged: never the best
    return dict(median=float(d.median()), rms=float(d.pow(2).mean().sqrt()))

def run_ode(prob: dict, budgets=BUDGETS, peers=None, ours=None, grids=GRIDS, ends=ENDS) -> list:
    "One row per (side, sampler, grid, end, budget): model calls made and the error statistics."
    rows, args = [], (prob['x_start'], prob['model'], prob['sigma_data'])
    for nfe, grid, end in itertools.product(budgets, grids, ends):
        if grid in CALIBRATED and nfe not in CAL_BUDGETS: continue
        at = dict(grid=grid, end=end, budget=nfe)
        for name in (peers or PEERS):
            try: x, calls = run_peer(*PEERS[name], grid, nfe, *args, end=end)
            except Exception as e:                                    # e.g. UniPC without lower-order final at σ = 0
                rows.append(dict(side='peer', sampler=name, **at, nfe=0, median=math.nan, rms=math.nan,
                                 error=f'{type(e).__name__}: {str(e)[:80]}')); continue
            if x is not None: rows.append(dict(side='peer', sampler=name, **at, nfe=calls, **errors(x, prob['ref'])))
        for name in (ours or OURS):
            x, calls = run_ours(name, grid, nfe, *args, end=end)
            if x is not None: rows.append(dict(side='ours', sampler=name, **at, nfe=calls, **errors(x, prob['ref'])))
    assert all(r['nfe'] <= r['budget'] for r in rows), 'a sampler exceeded its budget'
    return rows

def best(rows, side: str, budget: int, stat: str, grids) -> dict:
    "The row with the smallest `stat` among this side's finite rows at this budget on these grids."
    cand = [r for r in rows
            if r['side'] == side and r['budget'] == budget and r['grid'] in grids and math.isfinite(r[stat])]
    return min(cand, key=lambda r: r[stat])

def where(row) -> str:
    "sampler, grid (and ', to σ_min' when the grid stops there)."
    return f"{row['sampler']}, {row['grid']}" + (', to σ_min' if row.get('end') == 'sigma_min' else '')

def headline(rows, budgets=BUDGETS) -> list:
    "ours / best peer per budget and statistic, restricted to trailing+Karras and on every grid."
    out = []
    for kind, grids in (('restricted', RESTRICTED), ('best grid', GRIDS)):
        for b in budgets:
            for stat in ('median', 'rms'):
                o, p = best(rows, 'ours', b, stat, grids), best(rows, 'peer', b, stat, grids)
                out.append(dict(grids=kind, budget=b, stat=stat, ratio=o[stat] / p[stat], ours=o[stat], peer=p[stat],
                                ours_name=where(o), peer_name=where(p)))
    return out

# ---------------------------------------------------------------- stochastic samplers
def sliced_wasserstein(a, b, n_proj: int=256, seed: int=0) -> float:
    "Sliced 2-Wasserstein distance between two equal-size point clouds (random directions, sorted projections)."
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(a.shape[1], n_proj, generator=g, dtype=torch.float64)
    dirs /= dirs.norm(dim=0)
    pa, pb = (a.double() @ dirs).sort(0).values, (b.double() @ dirs).sort(0).values
    return float((pa - pb).pow(2).mean().sqrt())

SDE_OURS = {'samples_dpmpp_2m_sde': lambda m, s, x: samples_dpmpp_2m_sde(m, s, xt=x),
            'samples_dpmpp_2m_sde eta=0.5': lambda m, s, x: samples_dpmpp_2m_sde(m, s, xt=x, eta=0.5),
            'samples (DDPM, mu=0.5)': lambda m, s, x: samples(m, s, mu=0.5, xt=x),
            'samples gam=2, mu=0.5': lambda m, s, x: samples(m, s, gam=2., mu=0.5, xt=x)}

def run_sde(prob: dict, n: int, budgets=(10, 20, 50), seed: int=0) -> list:
    "Sliced W2 of each stochastic sampler's samples to fresh draws of the mixture, every grid."
    mix, model, sd = prob['mixture'], prob['model'], prob['sigma_data']
    fresh = mix.sample(n, torch.Generator().manual_seed(seed + 100))
    rows = [dict(side='floor', sampler='fresh vs fresh', grid='-', budget=0,
                 sw2=sliced_wasserstein(mix.sample(n, torch.Generator().manual_seed(seed + 101)), fresh))]
    x0 = SIG_MAX * torch.randn(n, mix.means.shape[1], generator=torch.Generator().manual_seed(seed + 2),
                               dtype=torch.float64)
    for b in budgets:
        for grid in GRIDS[:3]:                                        # the fixed grids (not calibrated)
            for name, (cls, kw) in SDE_PEERS.items():
                x, _ = run_peer(cls, kw, grid, b, x0, model, sd, seed=seed + 3)
                rows.append(dict(side='peer', sampler=name, grid=grid, budget=b, sw2=sliced_wasserstein(x, fresh)))
            for name, sampler in SDE_OURS.items():
                torch.manual_seed(seed + 3)
                *_, x = sampler(model, make_grid(grid, b, sd), x0)
                rows.append(dict(side='ours', sampler=name, grid=grid, budget=b, sw2=sliced_wasserstein(x, fresh)))
    return rows

# ---------------------------------------------------------------- overhead
class Trivial(torch.nn.Module):
    "ε = 0 on (B, 16): the loop's own cost is all that is timed."
    input_dims = (16,)
    def rand_input(self, b): return torch.randn(b, 16)
    def predict_eps_cfg(self, x, sigma, cond, cfg_scale): return torch.zeros_like(x)
    def predict_eps(self, x, sigma, cond=None): return torch.zeros_like(x)

OVERHEAD_PAIRS = {   # method: (ours, diffusers scheduler and arguments)
    'DDIM': (lambda m, s, x: samples(m, s, xt=x),
             (DDIMScheduler, dict(clip_sample=False, timestep_spacing='trailing'))),
    'DPM++(2M)': (lambda m, s, x: samples_dpmpp_2m(m, s, xt=x),
                  (DPMSolverMultistepScheduler, dict(final_sigmas_type='zero'))),
    'DPM++(2M) SDE': (lambda m, s, x: samples_dpmpp_2m_sde(m, s, xt=x),
                      (DPMSolverMultistepScheduler, dict(algorithm_type='sde-dpmsolver++', final_sigmas_type='zero'))),
    'Heun': (lambda m, s, x: samples_heun(m, s, xt=x), (HeunDiscreteScheduler, {})),
    'trig PC order 3 vs UniPC-3': (lambda m, s, x: samples_trig_pc(m, s, xt=x, order=3, sigma_data=1.),
                                   (UniPCMultistepScheduler, dict(solver_order=3, final_sigmas_type='zero'))),
    'calibrated (DEIS weights) vs DEIS-3': (lambda m, s, x: samples_calibrated(m, s, xt=x, weights=deis_weights(s, 3)),
                                            (DEISMultistepScheduler, dict(solver_order=3))),
}

def time_overhead(steps: int=50, repeats: int=7, batch: int=1) -> list:
    "Per-step time outside a trivial model, ours and diffusers' `step()` loop side by side, order alternated."
    model, x0 = Trivial(), SIG_MAX * torch.randn(batch, 16)
    rows = []
    for method, (ours, (cls, kw)) in OVERHEAD_PAIRS.items():
        t = {'ours': [], 'peer': []}
        def run_o(): list(ours(model, make_grid('trailing', steps, 1.), x0))
        def run_p(): peer_loop(cls, kw, steps, x0)
        for r in range(repeats + 1):
            for side, fn in ((('ours', run_o), ('peer', run_p)) if r % 2 else (('peer', run_p), ('ours', run_o))):
                t0 = time.perf_counter(); fn(); dt = time.perf_counter() - t0
                if r: t[side].append(dt / steps)                     # round 0 warms up
        o, p = statistics.median(t['ours']), statistics.median(t['peer'])
        rows.append(dict(method=method, steps=steps, batch=batch, ours_us=1e6 * o, peer_us=1e6 * p, ratio=o / p))
    return rows

# ---------------------------------------------------------------- reduced run for CI
REDUCED = dict(problem='mixture16', batch=128, ref_steps=200, budgets=(10, 20))

def reduced_headline() -> list:
    "The headline ratios at 10 and 20 evaluations on a small batch of the tuning problem (seconds; tests/ rerun it)."
    prob = make_problem(REDUCED['problem'], REDUCED['batch'], REDUCED['ref_steps'])
    return headline(run_ode(prob, budgets=REDUCED['budgets']), budgets=REDUCED['budgets'])

# ---------------------------------------------------------------- output
def write_json(obj, path):
    "Write atomically (temp file + os.replace)."
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.json')
    with os.fdopen(fd, 'w') as f: json.dump(obj, f, indent=1)
    os.chmod(tmp, 0o644); os.replace(tmp, path)

def plot(results: dict, path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    probs = results['problems']
    fig, axs = plt.subplots(1, len(probs), figsize=(4 * len(probs), 3.2))
    for ax, p in zip(np.atleast_1d(axs), probs):
        for side, kind, grids, style in (('ours', 'restricted', RESTRICTED, 'C0--'),
                                         ('peer', 'restricted', RESTRICTED, 'C1--'),
                                         ('ours', 'best grid', GRIDS, 'C0-'), ('peer', 'best grid', GRIDS, 'C1-')):
            ys = [best(p['rows'], side, b, 'median', grids)['median'] for b in results['budgets']]
            ax.loglog(results['budgets'], ys, style, marker='o', ms=3, label=f'{side}, {kind}')
        ax.set(title=p['name'], xlabel='model evaluations', ylabel='median error')
        ax.minorticks_off(); ax.set_xticks(results['budgets'], [str(b) for b in results['budgets']])
    np.atleast_1d(axs)[0].legend(fontsize=7)
    fig.tight_layout(); fig.savefig(path, dpi=100, bbox_inches='tight'); plt.close(fig)

def report(results: dict):
    for p in results['problems']:
        print(f"\n{p['name']}: σ_data {p['sigma_data']:.3f}, batch {p['batch']}, "
              f"reference self-error {p['ref_error_half_steps']:.1e}")
        for h in p['headline']:
            print(f"  {h['grids']:10s} NFE {h['budget']:2d} {h['stat']:6s} ours/peer {h['ratio']:.2f}  "
                  f"({h['ours']:.3e} {h['ours_name']}  vs  {h['peer']:.3e} {h['peer_name']})")
    for p in results.get('sde', []):
        print(f"\nstochastic, {p['name']} (sliced W2, floor {p['rows'][0]['sw2']:.4f})")
        for r in p['ratios']:
            print(f"  NFE {r['budget']:2d} ours {r['ours']:.4f} ({r['ours_name']})  "
                  f"peer {r['peer']:.4f} ({r['peer_name']})  ratio {r['ratio']:.2f}")
    for r in results.get('overhead', []):
        print(f"overhead {r['method']:28s} ours {r['ours_us']:7.1f} us/step  "
              f"diffusers {r['peer_us']:7.1f} us/step  ratio {r['ratio']:.2f}")

def sde_ratios(rows, budgets=(10, 20, 50)) -> list:
    out = []
    for b in budgets:
        o = min((r for r in rows if r['side'] == 'ours' and r['budget'] == b), key=lambda r: r['sw2'])
        p = min((r for r in rows if r['side'] == 'peer' and r['budget'] == b), key=lambda r: r['sw2'])
        out.append(dict(budget=b, ratio=o['sw2'] / p['sw2'], ours=o['sw2'], peer=p['sw2'],
                        ours_name=f"{o['sampler']}, {o['grid']}", peer_name=f"{p['sampler']}, {p['grid']}"))
    return out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='small batches and references (smoke run)')
    p.add_argument('--problems', nargs='+', default=['mixture16', 'wide4', 'digits_mlp'])
    p.add_argument('--out', default=str(RESULTS))
    p.add_argument('--plot-only', action='store_true', help='only redraw samplers.png from the samplers.json in --out')
    args = p.parse_args(argv)
    if args.plot_only:
        return plot(json.loads((Path(args.out) / 'samplers.json').read_text()), Path(args.out) / 'samplers.png')
    warnings.filterwarnings('ignore')
    from diffusers.utils import logging as dlog; dlog.set_verbosity_error()
    batch, ref_steps, sde_n = (128, 200, 256) if args.quick else (1024, 1000, 2000)
    out = Path(args.out); t_all = time.time()
    hardware = (f'{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, no GPU'
                if not torch.cuda.is_available() else torch.cuda.get_device_name())
    results = dict(budgets=list(BUDGETS), settings=dict(ours=len(OURS), peers=len(PEERS)), hardware=hardware,
                   problems=[], sde=[])
    for name in args.problems:
        t0 = time.time(); prob = make_problem(name, batch, ref_steps)
        rows = run_ode(prob)
        keep = {k: prob[k] for k in ('name', 'sigma_data', 'ref_error_half_steps', 'tuned_here', 'train_seconds',
                                     'ref_seconds')}
        results['problems'].append(dict(**keep, batch=batch, rows=rows, headline=headline(rows),
                                        seconds=time.time() - t0,
                                        calibration_seconds=CAL_SECONDS.get(prob['key'], 0.)))
        print(f'{name}: {time.time() - t0:.0f} s', flush=True)
        if prob['mixture'] is not None:
            t0 = time.time(); srows = run_sde(prob, sde_n)
            results['sde'].append(dict(name=name, n=sde_n, rows=srows, ratios=sde_ratios(srows),
                                       seconds=time.time() - t0))
    results['overhead'] = time_overhead()
    if 'mixture16' in args.problems and not args.quick:
        write_json(dict(config=REDUCED, headline=reduced_headline()), out / 'ordering_reduced.json')
    results['seconds'] = time.time() - t_all
    write_json(results, out / 'samplers.json')
    plot(results, out / 'samplers.png')
    report(results)
    print(f"\n{results['seconds']:.0f} s; wrote {out / 'samplers.json'} and {out / 'samplers.png'}")
    return results

if __name__ == '__main__':
    main()
