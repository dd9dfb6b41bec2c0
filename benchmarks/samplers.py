"""Sampler benchmark, held out: ours and diffusers' samplers on the same σ grids, at equal model evaluations, each
side's
setting picked on development draws and scored on fresh ones.

Protocol
  Problems (problems.py): mixture16, wide4, digits_mlp, flow16, digits_unet. Each has development noise and fresh noise
  with disjoint seeds, never the problem's own seed.
  Settings (frozen here and in peers.py, each with its origin): ours are the public samplers at their defaults (called
  without arguments, so a changed default is what runs) plus the frozen non-default settings; the peers are every
  documented order and variant of diffusers' ODE schedulers. Grids (grids.py): trailing, karras, trig (+ shift3 on
  flow16), each to σ = 0 or stopping at σ_min. Budgets 5, 10, 20, 50 model evaluations, counted by a wrapper.
  Error: the L2 distance of a run's final state to the fine solve's state at the σ where the run stops (problems.ref).
  Pick and score: per cell (problem x budget x statistic x grid set) each side's best (sampler, setting, grid, end) on
  the dev draws is run on the fresh draws; ratio = ours / peer on fresh, with a paired bootstrap 95% interval over the
  fresh draws. A lead (trail) is a cell whose interval lies below (above) 1; otherwise a tie.
  Fitted methods (samples_calibrated; tune_sampler) are their own rows, with calibration seconds and model calls;
  up to 20 evaluations (where it moves grid points and fits weights) the tuner is run once per statistic
  (stat='median', stat='rms'), at its default number of calibration draws.
  Stochastic samplers: sliced W2 to data draws (dev: one set, fresh: another), with the fresh-vs-fresh floor.
  digits_unet: besides the ODE error, the Fréchet distance (DigitsFD) of the dev-picked and default settings.

    python benchmarks/samplers.py            # everything: benchmarks/results/samplers.json and samplers.png
    python benchmarks/samplers.py --quick    # small draws, for development (a few minutes)
"""
import argparse, json, math, os, statistics, sys, tempfile, time, warnings
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler, HeunDiscreteScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler
from diffusers import DEISMultistepScheduler
from smalldiffusion import samples
from smalldiffusion.model import ModelMixin
from smalldiffusion.image import frechet_distance
from smalldiffusion.samplers import samples_dpmpp_2m, samples_heun, samples_dpmpp_2m_sde
from smalldiffusion.adams import samples_trig_pc, samples_eps_adams, samples_x0_adams, samples_singlestep
from smalldiffusion.calibration import samples_calibrated, calibrate_weights, deis_weights

HERE = Path(__file__).parent
if str(HERE) not in sys.path: sys.path.insert(0, str(HERE))   # its modules, also when loaded from its path (tests/)
from problems import PROBLEMS, SCHEDULE, SIG_MAX, CAL_SEED, DATA_SEED, DEV_SEED, FRESH_SEED, make_problem, ref
from grids import RESTRICTED, ENDS, grids_of, heun_steps, make_grid
from peers import PEERS, PEER_DEFAULTS, SDE_PEERS, run_peer, runs_on, peer_loop
from peers import BETAS, peer_steps  # noqa: F401  (tests/ and nbs/02c read them here)
from protocol import bootstrap_ratio, bootstrap_geomean, verdict, counts, geomean

try: from smalldiffusion.tuning import tune_sampler, recommended
except ImportError: tune_sampler = recommended = None

RESULTS = HERE / 'results'
BUDGETS = (5, 10, 20, 50)
STATS = ('median', 'rms')

# ---------------------------------------------------------------- ours: the frozen list, each with its origin
DEFAULT = 'package default (called without arguments)'
BEFORE = 'chosen on mixture16 before this protocol (commit 15a73a6)'
AFTER_TEST = ('added after seeing a test cell: 0.6-0.9 beat full correction on the RMS at 10 evaluations of the '
              'earlier, non-held-out benchmark (commit 509a624); no committed run on the problems it was chosen on')
DPM_COEFFS = ("added after the held-out run of commit 2698521, where diffusers' DPM-Solver(2M/3M) in ε form won four "
              "cells: the same method as that peer (coefficients='dpm'), with and without our corrector; nothing tuned")
UNIPC_COEFFS = ("added after the same run, where diffusers' UniPC won the 50-evaluation cells of both trained "
                "networks: UniPC's own coefficients and corrector (coefficients='bh1'/'bh2'), in ε and x̂0; "
                "nothing tuned")
SINGLESTEP = ("added after the held-out run of commit 65e9db7, whose one every-grid trail was diffusers' DPM-Solver++ "
              "singlestep 3: the same method (samples_singlestep, 'midpoint' as the peer; the exact coefficients are "
              "left out, as the peer's solver_type='heun' is), orders 2-3, x̂0 and ε; nothing tuned")
EXACT_SINGLE = ("added after the held-out run of commit 24fab06 together with the peer's solver_type='heun' (its "
                "same method): samples_singlestep(coefficients='exact'), orders 2-3, x̂0 and ε; nothing tuned")

def _ours() -> dict:
    "name -> dict(fn(model, sigmas, xt, problem), heun, origin, default): our samplers and settings."
    o = lambda fn, origin, heun=False, default=False: dict(fn=fn, origin=origin, heun=heun, default=default)
    out = {'samples (DDIM)': o(lambda m, s, x, p: samples(m, s, xt=x), DEFAULT, default=True),
           'samples gam=2': o(lambda m, s, x, p: samples(m, s, gam=2., xt=x), 'the README\'s accelerated sampler',
                              default=True),
           'samples_heun': o(lambda m, s, x, p: samples_heun(m, s, xt=x), DEFAULT, heun=True, default=True),
           'samples_dpmpp_2m': o(lambda m, s, x, p: samples_dpmpp_2m(m, s, xt=x), DEFAULT, default=True),
           'samples_trig_pc': o(lambda m, s, x, p: samples_trig_pc(m, s, xt=x), DEFAULT, default=True),
           'samples_eps_adams': o(lambda m, s, x, p: samples_eps_adams(m, s, xt=x), DEFAULT, default=True),
           'samples_x0_adams': o(lambda m, s, x, p: samples_x0_adams(m, s, xt=x), DEFAULT, default=True),
           'samples_singlestep': o(lambda m, s, x, p: samples_singlestep(m, s, xt=x), DEFAULT + '; ' + SINGLESTEP,
                                   default=True)}
    for order in (2, 3):
        out[f'samples_trig_pc order {order}, σ_data'] = o(
            (lambda k: lambda m, s, x, p: samples_trig_pc(m, s, xt=x, order=k, sigma_data=p['sigma_data']))(order),
            BEFORE + '; σ_data: the training data\'s std')
    for form, f in (('eps', samples_eps_adams), ('x0', samples_x0_adams)):
        for order in (2, 3):
            for c in (1., 0.75, 0.5, 0.25, 0.):
                for lof in (False, True):
                    kw = dict(order=order, corrector=c, lower_order_final=lof)
                    name = f'samples_{form}_adams order {order}, corrector {c:g}' + (', lower-order final' * lof)
                    out[name] = o((lambda f, kw: lambda m, s, x, p: f(m, s, xt=x, **kw))(f, kw),
                                  AFTER_TEST if c in (0.25, 0.75) else BEFORE)
    for order in (2, 3):                                   # DPM-Solver's multistep coefficients in ε
        for c in (0., 1.):
            for lof in (False, True):
                kw = dict(order=order, corrector=c, lower_order_final=lof, coefficients='dpm')
                name = f'samples_eps_adams order {order}, dpm, corrector {c:g}' + (', lower-order final' * lof)
                out[name] = o((lambda kw: lambda m, s, x, p: samples_eps_adams(m, s, xt=x, **kw))(kw), DPM_COEFFS)
    for form, f in (('eps', samples_eps_adams), ('x0', samples_x0_adams)):   # UniPC's coefficients, its corrector
        for order in (2, 3):
            for bh in ('bh1', 'bh2'):
                for lof in (False, True):
                    kw = dict(order=order, corrector=1., lower_order_final=lof, coefficients=bh)
                    name = f'samples_{form}_adams order {order}, {bh}' + (', lower-order final' * lof)
                    out[name] = o((lambda f, kw: lambda m, s, x, p: f(m, s, xt=x, **kw))(f, kw), UNIPC_COEFFS)
    for order, predict in ((2, 'eps'), (3, 'x0'), (3, 'eps')):   # DPM-Solver's single-step, its midpoint form
        kw = dict(order=order, predict=predict)
        out[f'samples_singlestep order {order}, {predict}'] = o(
            (lambda kw: lambda m, s, x, p: samples_singlestep(m, s, xt=x, **kw))(kw), SINGLESTEP)
    for order in (2, 3):                                          # ... and its exact weights (the peer's 'heun')
        for predict in ('x0', 'eps'):
            kw = dict(order=order, predict=predict, coefficients='exact')
            out[f'samples_singlestep order {order}, {predict}, exact'] = o(
                (lambda kw: lambda m, s, x, p: samples_singlestep(m, s, xt=x, **kw))(kw), EXACT_SINGLE)
    return out

OURS = _ours()
FITTED_BUDGETS = (5, 10)           # samples_calibrated's fits (per problem, grid, end, budget)
CAL_BATCH = 512                    # samples_calibrated's calibration noise draws (its own seed, CAL_SEED)
TUNER_BATCH = None                 # tune_sampler's: None is its default (a pilot of 256 draws with stat='median', 512
                                   # with 'rms', grown up to 8 times where the pilot's pick is noisy and tuning cheap)
TUNED_PER_STAT = (5, 10, 20, 50)   # budgets where the tuner runs once per statistic (all: as a user who cares asks)

class CountedModel(torch.nn.Module, ModelMixin):
    "A model wrapper counting its calls (ε, or v for a flow model), for our samplers, the fitted ones and the tuner."
    def __init__(self, model):
        super().__init__(); self.model, self.calls, self.input_dims = model, 0, model.input_dims
        self.is_flow = getattr(model, 'is_flow', False)
    def rand_input(self, b): return self.model.rand_input(b)
    def predict_eps(self, x, sigma, cond=None): return self.predict_eps_cfg(x, sigma, cond, 0.)
    def predict_eps_cfg(self, x, sigma, cond, cfg_scale):
        self.calls += 1
        return self.model.predict_eps(x, sigma)

def distances(x, target) -> np.ndarray:
    "Per-draw L2 distance (float64); inf where a run diverged (never picked)."
    d = (x.detach().double() - target.detach().double()).flatten(1).norm(dim=1).numpy()
    return np.where(np.isfinite(d), d, np.inf)

def stat(d: np.ndarray, name: str) -> float:
    return float(np.median(d)) if name == 'median' else float(np.sqrt(np.mean(d ** 2)))

def sample_setting(side: str, name: str, p: dict, grid: str, nfe: int, which: str, end: str):
    "(final state in σ form, model calls, σ where it stopped) of one fixed setting, or (None, why, None)."
    if side == 'peer':
        peer = PEERS[name]
        why = runs_on(peer, p)
        if why: return None, why, None
        x, calls = run_peer(peer, p, grid, nfe, which, end)
        if x is None: return None, 'not on this grid', None
        sig_end = float(make_grid(p, grid, peer_steps(peer['cls'], nfe, end), end)[-1])
    else:
        s = OURS[name]
        m, sigs = CountedModel(p['model']), make_grid(p, grid, heun_steps(nfe, end) if s['heun'] else nfe, end)
        *_, x = s['fn'](m, sigs, p['x'][which], p)
        calls, sig_end = m.calls, float(sigs[-1])
    if calls > nfe: raise RuntimeError(f'{name} made {calls} calls in a budget of {nfe}')
    return x, calls, sig_end

def run_setting(side: str, name: str, p: dict, grid: str, nfe: int, which: str, end: str):
    "(per-draw distances to the reference where the run stops, model calls), or (None, why)."
    x, calls, sig_end = sample_setting(side, name, p, grid, nfe, which, end)
    return (None, calls) if x is None else (distances(x, ref(p, which, sig_end)), calls)

# ---------------------------------------------------------------- dev sweep, picks, fresh scoring
def run_dev(p: dict, budgets=BUDGETS, peers=None, ours=None) -> tuple:
    "Every fixed setting on every grid, end and budget, on the dev draws: (rows, settings that cannot run here)."
    rows, skipped = [], {}
    names = [('peer', n) for n in (peers or PEERS)] + [('ours', n) for n in (ours or OURS)]
    for side, name in names:
        why = runs_on(PEERS[name], p) if side == 'peer' else None
        if why: skipped[name] = why; continue
        for nfe in budgets:
            for grid in grids_of(p):
                for end in ENDS:
                    at = dict(side=side, sampler=name, grid=grid, end=end, budget=nfe)
                    try: d, calls = run_setting(side, name, p, grid, nfe, 'dev', end)
                    except Exception as e:                      # diffusers rejects it: recorded with its error
                        rows.append(dict(**at, nfe=0, median=math.inf, rms=math.inf,
                                         error=f'{type(e).__name__}: {str(e)[:100]}')); continue
                    if d is None: continue                      # DDIM off its native grid
                    row = dict(**at, nfe=calls, median=stat(d, 'median'), rms=stat(d, 'rms'))
                    if not np.isfinite(d).all(): row['error'] = 'non-finite samples'
                    rows.append(row)
    return rows, skipped

def pick(rows, side: str, budget: int, st: str, grids) -> dict:
    "This side's row with the smallest dev `st` at `budget` on `grids` (finite rows only)."
    cand = [r for r in rows if r['side'] == side and r['budget'] == budget and r['grid'] in grids
            and math.isfinite(r[st]) and 'error' not in r]
    return min(cand, key=lambda r: r[st])

def where(r) -> str:
    return f"{r['sampler']}, {r['grid']}" + (', to σ_min' if r['end'] == 'sigma_min' else '')

def fresh(p: dict, r: dict) -> np.ndarray:
    "The fresh draws' distances of a dev row's setting (run once)."
    key = (r['side'], r['sampler'], r['grid'], r['end'], r['budget'])
    if key not in p['fresh']: p['fresh'][key] = run_setting(*key[:2], p, r['grid'], r['budget'], 'fresh', r['end'])[0]
    return p['fresh'][key]

def headline(p: dict, rows: list, budgets=BUDGETS) -> list:
    "Per budget, statistic and grid set: each side's dev pick, scored on fresh draws (ratio and interval)."
    out = []
    for kind, grids in (('restricted', RESTRICTED), ('every grid', grids_of(p))):
        for b in budgets:
            for st in STATS:
                o, q = pick(rows, 'ours', b, st, grids), pick(rows, 'peer', b, st, grids)
                r = bootstrap_ratio(fresh(p, o), fresh(p, q), st, seed=b)
                out.append(dict(problem=p['name'], grids=kind, budget=b, stat=st, **r, ours_name=where(o),
                                peer_name=where(q), ours_dev=o[st], peer_dev=q[st]))
    return out

# ---------------------------------------------------------------- fitted methods: their own rows
def _user_form(p: dict, sigma_form: bool) -> bool:
    "Does the user side of `p` work in t (flow16's flow model), rather than σ?"
    return p['name'] == 'flow16' and not sigma_form

def run_user(p: dict, sampler, sigmas, which: str, sigma_form: bool=False) -> tuple:
    """(distances, calls) of `sampler(model, sigmas, xt=...)` as a user runs it (a fitted method, `recommended`): on
    the user's model (flow16: the flow model on t) or, `sigma_form`, on the σ-form ε-model."""
    t_form, s0 = _user_form(p, sigma_form), float(sigmas[0])
    sig0 = s0 / (1 - s0) if t_form else s0
    if abs(sig0 / p['sig_max'] - 1) > 1e-6: raise ValueError(f'its grid starts at σ = {sig0}, not {p["sig_max"]}')
    m = CountedModel(p['model'] if sigma_form else p['user_model'])
    *_, x = sampler(m, sigmas, xt=p['x'][which] * (1 - s0) if t_form else p['x'][which])
    end = float(sigmas[-1])
    if t_form: end, x = end / (1 - end), x / (1 - end)
    return distances(x, ref(p, which, end)), m.calls

def fit_calibrated(p: dict, budgets=FITTED_BUDGETS) -> list:
    "samples_calibrated: step weights fitted per grid and end on calibration noise; (method, budget, cost, fits)."
    out = []
    for nfe in budgets:
        fits, secs, calls = [], 0., 0
        for grid in RESTRICTED:
            for end in ENDS:
                sigs, m, t0 = make_grid(p, grid, nfe, end), CountedModel(p['model']), time.time()
                w = calibrate_weights(m, sigs, xt=p['noise'](CAL_SEED, CAL_BATCH),
                                      sigma_min=1e-4 if p['exact'] else p['sig_min'])
                secs, calls = secs + time.time() - t0, calls + m.calls
                run = (lambda w: lambda mm, ss, xt: samples_calibrated(mm, ss, xt=xt, weights=w))(w)
                fits.append(dict(name=f'samples_calibrated, {grid}' + (', to σ_min' if end == 'sigma_min' else ''),
                                 sigmas=sigs, run=run, sigma_form=True))
        out.append(dict(method='samples_calibrated (fitted per grid)', budget=nfe, seconds=secs, calls=calls,
                        fits=fits))
    return out

def fit_tuner(p: dict, budgets=BUDGETS) -> list:
    """tune_sampler's choice per budget, with its calibration seconds and calls (as it reports them). At the budgets
    in TUNED_PER_STAT (every one) it is tuned once per statistic (`stat='median'` for the median cells, `stat='rms'` for
    the RMS cells), as a user who cares about that error would call it; at any other, once at its default (median) for
    both statistics."""
    out = []
    for nfe in budgets:
        for stats in ([[st] for st in STATS] if nfe in TUNED_PER_STAT else [list(STATS)]):
            tuned = tune_sampler(p['user_model'], nfe, p['schedule'], batch=TUNER_BATCH, seed=CAL_SEED, stat=stats[0],
                                 progress=False)
            out.append(dict(method='tune_sampler', budget=nfe, stats=stats, seconds=float(tuned.seconds),
                            calls=int(tuned.calls), choice={k: str(v) for k, v in dict(tuned.choice).items()},
                            fits=[dict(name=f'tune_sampler, stat={stats[0]}', sigmas=tuned.sigmas, run=tuned,
                                       sigma_form=False)]))
    return out

def fitted_cells(p: dict, rows: list, fitted: list) -> list:
    """Each fitted method per budget and statistic: its fit picked on dev (among its grids), scored on fresh against
    the best fixed peer (every grid, picked on dev)."""
    out = []
    for f in fitted:
        for fit in f['fits']: fit.setdefault('dev', run_user(p, fit['run'], fit['sigmas'], 'dev', fit['sigma_form']))
        for st in f.get('stats', STATS):
            best = min(f['fits'], key=lambda fit: stat(fit['dev'][0], st))
            if 'fresh' not in best:
                best['fresh'] = run_user(p, best['run'], best['sigmas'], 'fresh', best['sigma_form'])
            q = pick(rows, 'peer', f['budget'], st, grids_of(p))
            r = bootstrap_ratio(best['fresh'][0], fresh(p, q), st, seed=f['budget'])
            out.append(dict(problem=p['name'], method=f['method'], budget=f['budget'], stat=st, **r,
                            ours_name=best['name'], peer_name=where(q), calls_per_sample=best['fresh'][1],
                            calibration_seconds=f['seconds'], calibration_calls=f['calls'],
                            choice=f.get('choice')))
            if f['budget'] in FITTED_BUDGETS:
                out[-1]['hindsight'] = hindsight(p, rows, best['fresh'][0], f['budget'], st)
    return out

HINDSIGHT_K = 24     # peer settings run on the fresh draws per cell for the hindsight pick: the best K on dev

def hindsight(p: dict, rows: list, d_ours: np.ndarray, budget: int, st: str) -> dict:
    """The fitted method against the peer setting that is best *on the fresh draws* (chosen with hindsight) among
    the HINDSIGHT_K best peer settings on dev (every grid and end), with that pick's dev rank (a rank near K would
    say the cut mattered)."""
    cand = sorted((r for r in rows if r['side'] == 'peer' and r['budget'] == budget and r['grid'] in grids_of(p)
                   and math.isfinite(r[st]) and 'error' not in r), key=lambda r: r[st])[:HINDSIGHT_K]
    rank, q = min(enumerate(cand), key=lambda ir: stat(fresh(p, ir[1]), st))
    return dict(**bootstrap_ratio(d_ours, fresh(p, q), st, seed=budget), peer_name=where(q), dev_rank=rank + 1,
                k=HINDSIGHT_K)

# ---------------------------------------------------------------- one setting for everything
def single_setting(probs: list, budgets=BUDGETS) -> dict:
    """Per side, the one fixed (sampler, grid, end) with the best geometric mean over every problem, budget and
    statistic of dev error / the best dev error of anyone there; then that pair scored on fresh draws."""
    ratios = {}
    for p in probs:
        for b in budgets:
            cell = [r for r in p['rows'] if r['budget'] == b and 'error' not in r]
            for st in STATS:
                top = min(r[st] for r in cell)
                for r in cell: ratios.setdefault((r['side'], r['sampler'], r['grid'], r['end']), []).append(r[st] / top)
    n = len(probs) * len(budgets) * len(STATS)
    score = {k: geomean(v) for k, v in ratios.items() if len(v) == n and all(map(math.isfinite, v))}
    best = {side: min((k for k in score if k[0] == side), key=score.get) for side in ('ours', 'peer')}
    out = {side: dict(name=f'{k[1]}, {k[2]}' + (', to σ_min' if k[3] == 'sigma_min' else ''), dev_score=score[k])
           for side, k in best.items()}
    pairs, cells = {}, []
    for p in probs:
        for b in budgets:
            d = {side: fresh(p, dict(side=k[0], sampler=k[1], grid=k[2], end=k[3], budget=b))
                 for side, k in best.items()}
            for st in STATS:
                pairs.setdefault(p['name'], []).append((d['ours'], d['peer'], st))
                cells.append(dict(problem=p['name'], budget=b, stat=st,
                                  **bootstrap_ratio(d['ours'], d['peer'], st, seed=b)))
    return dict(**out, keys={s: list(k) for s, k in best.items()}, geomean=bootstrap_geomean(pairs), cells=cells,
                counts=counts(cells))

def _name(sampler) -> str:
    "A sampler's name, with its arguments where it is a functools.partial."
    f = getattr(sampler, 'func', sampler)
    kw = ', '.join(f'{k}={v}' for k, v in getattr(sampler, 'keywords', {}).items())
    return getattr(f, '__name__', str(f)) + (f'({kw})' if kw else '')

def recommended_vs_peer(probs: list, one: dict, budgets=BUDGETS) -> dict:
    "`recommended(schedule, nfe)` on fresh draws beside the peers' one setting: per cell and in geometric mean."
    k = one['keys']['peer']
    pairs, cells = {}, []
    for p in probs:
        for b in budgets:
            sampler, sigmas = recommended(p['schedule'], b)
            d_o, calls = run_user(p, sampler, sigmas, 'fresh')
            d_p = fresh(p, dict(side='peer', sampler=k[1], grid=k[2], end=k[3], budget=b))
            for st in STATS:
                pairs.setdefault(p['name'], []).append((d_o, d_p, st))
                cells.append(dict(problem=p['name'], budget=b, stat=st, calls=calls, ours_name=_name(sampler),
                                  **bootstrap_ratio(d_o, d_p, st, seed=b)))
    return dict(geomean=bootstrap_geomean(pairs), cells=cells, counts=counts(cells), peer=one['peer']['name'])

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
SDE_BUDGETS, SDE_B = (10, 20, 50), 200

def _sde_sample(p, side, name, grid, b, which):
    seed = (DEV_SEED if which == 'dev' else FRESH_SEED) + 77          # the samplers' own noise: dev and fresh apart
    if side == 'peer': return run_peer(SDE_PEERS[name], p, grid, b, which, seed=seed)[0]
    torch.manual_seed(seed)
    return list(SDE_OURS[name](p['model'], make_grid(p, grid, b), p['x'][which]))[-1]

def run_sde(p: dict, budgets=SDE_BUDGETS) -> dict:
    """Sliced W2 of each stochastic sampler's samples to data draws: picked on dev (dev noise, one data set), scored
    on fresh (fresh noise, another), with the fresh-vs-fresh floor; a gap inside the floor is a tie."""
    mix, i = p['mixture'], p['index']
    data = {w: mix.sample(len(p['x'][w if w != 'floor' else 'fresh']),
                          torch.Generator().manual_seed(DATA_SEED + 100 * i + k))
            for k, w in enumerate(('dev', 'fresh', 'floor'))}
    floor = sliced_wasserstein(data['floor'], data['fresh'])
    names = [('peer', n) for n in SDE_PEERS] + [('ours', n) for n in SDE_OURS]
    rows, cells = [], []
    for b in budgets:
        for side, name in names:
            for grid in RESTRICTED + ('trig',):
                x = _sde_sample(p, side, name, grid, b, 'dev')
                rows.append(dict(side=side, sampler=name, grid=grid, budget=b, sw2=sliced_wasserstein(x, data['dev'])))
        best = {s: min((r for r in rows if r['side'] == s and r['budget'] == b), key=lambda r: r['sw2'])
                for s in ('ours', 'peer')}
        x = {s: _sde_sample(p, s, r['sampler'], r['grid'], b, 'fresh') for s, r in best.items()}
        cells.append(dict(problem=p['name'], budget=b, ours_name=f"{best['ours']['sampler']}, {best['ours']['grid']}",
                          peer_name=f"{best['peer']['sampler']}, {best['peer']['grid']}", floor=floor,
                          **_sw_ratio(x['ours'], x['peer'], data['fresh'], floor, seed=b)))
    return dict(name=p['name'], n=len(p['x']['fresh']), floor=floor, rows=rows, cells=cells)

def _sw_ratio(xo, xp, data, floor, seed=0) -> dict:
    "SW2 ratio with a bootstrap over the (paired) samples and, independently, the data draws; tie inside the floor."
    o, q = sliced_wasserstein(xo, data), sliced_wasserstein(xp, data)
    rng, n = np.random.default_rng(seed), len(data)
    r = []
    for _ in range(SDE_B):
        i, j = rng.integers(0, n, n), rng.integers(0, n, n)
        r.append(sliced_wasserstein(xo[i], data[j]) / sliced_wasserstein(xp[i], data[j]))
    lo, hi = min(float(np.percentile(r, 2.5)), o / q), max(float(np.percentile(r, 97.5)), o / q)
    v = verdict(lo, hi) if abs(o - q) > floor else 'tie'
    return dict(ratio=o / q, lo=lo, hi=hi, ours=o, peer=q, verdict=v, inside_floor=abs(o - q) <= floor)

# ---------------------------------------------------------------- Fréchet distance of the U-Net's samples
FD_B = 200

def fd_scores(p: dict, rows: list, n: int, budgets=BUDGETS) -> dict:
    """DigitsFD of the U-Net's samples from fresh noise: each side's dev pick (RMS, every grid) and the defaults (ours
    on
    the schedule's grid to σ_min, as `sample_sigmas` gives; diffusers' with their default final σ = 0)."""
    from smalldiffusion.image import DigitsFD
    from protocol import _interval
    fd, i = DigitsFD(), p['index']
    p['x']['fd'] = p['noise'](FRESH_SEED + 60, n)
    feats = lambda x: fd.features(x)
    out = dict(n=n, floor=fd.floor(n), rows=[], cells=[])
    defaults = [('ours', k, 'trailing', 'sigma_min') for k, s in OURS.items() if s['default']] + [
        ('peer', k, 'trailing', 'sigma_min' if k.startswith('DEIS') else 'zero') for k in PEER_DEFAULTS]
    for b in budgets:
        picks = {s: pick(rows, s, b, 'rms', grids_of(p)) for s in ('ours', 'peer')}
        f = {}
        runs = [(r['side'], r['sampler'], r['grid'], r['end']) for r in picks.values()] + defaults
        for side, name, grid, end in runs:
            if (side, name, grid, end) in f: continue
            x, calls, _ = sample_setting(side, name, p, grid, b, 'fd', end)
            f[side, name, grid, end] = feats(x).double()
            out['rows'].append(dict(side=side, sampler=name, grid=grid, end=end, budget=b, nfe=calls,
                                    default=(side, name, grid, end) in defaults,
                                    fd=float(frechet_distance(f[side, name, grid, end], fd.ref_feats))))
        ko, kp = ((r['side'], r['sampler'], r['grid'], r['end']) for r in (picks['ours'], picks['peer']))
        o, q = (float(frechet_distance(f[k], fd.ref_feats)) for k in (ko, kp))
        rng, r = np.random.default_rng(b), []
        for _ in range(FD_B):
            j = torch.as_tensor(rng.integers(0, n, n))
            r.append(frechet_distance(f[ko][j], fd.ref_feats) / frechet_distance(f[kp][j], fd.ref_feats))
        lo, hi, _ = _interval(np.array(r), o / q)
        out['cells'].append(dict(problem=p['name'], budget=b, ratio=o / q, lo=lo, hi=hi, ours=o, peer=q,
                                 verdict=verdict(lo, hi), ours_name=where(picks['ours']),
                                 peer_name=where(picks['peer'])))
    return out

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
        def run_o(): list(ours(model, torch.cat([SCHEDULE.sample_sigmas(steps)[:-1].double(), torch.zeros(1)]), x0))
        def run_p(): peer_loop(cls, kw, steps, x0)
        for r in range(repeats + 1):
            for side, fn in ((('ours', run_o), ('peer', run_p)) if r % 2 else (('peer', run_p), ('ours', run_o))):
                t0 = time.perf_counter(); fn(); dt = time.perf_counter() - t0
                if r: t[side].append(dt / steps)                     # round 0 warms up
        o, p = statistics.median(t['ours']), statistics.median(t['peer'])
        rows.append(dict(method=method, steps=steps, batch=batch, ours_us=1e6 * o, peer_us=1e6 * p, ratio=o / p))
    return rows

# ---------------------------------------------------------------- output
QUICK = dict(n_dev=32, n_fresh=64, ref_steps=100, unet=(4, 16), fd_n=64, budgets=(5, 10), cal_batch=64,
             tuner_batch=64)
# the tuner runs at its default draws, as a user calls it; the U-Net gets 64 dev draws and 128 fresh ones (dev draws:
# 16 at first, then 32, now 64: on 32, one heavy-tailed draw picked the RMS@20 setting, and the pick's fresh RMS was
# twice the peer's). Its dev sweep took 548 s on 32 draws and 634 s on 64 (2 CPUs): the model runs batched, so more
# dev draws cost little next to the tuner's calibration and the Fréchet scores
FULL = dict(n_dev=256, n_fresh=512, ref_steps=500, unet=(64, 128), fd_n=539, budgets=BUDGETS, cal_batch=512,
            tuner_batch=None)

def write_json(obj, path):
    "Write atomically (temp file + os.replace)."
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.json')
    with os.fdopen(fd, 'w') as f: json.dump(obj, f, indent=None, separators=(',', ':'))
    os.chmod(tmp, 0o644); os.replace(tmp, path)

def _compact(rows: list) -> dict:
    "Dev rows as columns (the JSON stays small)."
    keys = ['side', 'sampler', 'grid', 'end', 'budget', 'nfe', 'median', 'rms', 'error']
    fmt = lambda v: round(v, 6 - int(math.floor(math.log10(abs(v))))) if isinstance(v, float) and math.isfinite(v) \
        and v != 0 else (None if isinstance(v, float) and not math.isfinite(v) else v)
    return dict(keys=keys, rows=[[fmt(r.get(k)) for k in keys] for r in rows])

def settings_list() -> dict:
    "The frozen settings with their origins, for the JSON."
    return dict(ours={k: s['origin'] for k, s in OURS.items()},
                peers={k: dict(cls=v['cls'].__name__, kw={a: str(b) for a, b in v['kw'].items()},
                               step_kw=v['step_kw'], origin=v['origin']) for k, v in PEERS.items()})

def run_problem(name: str, cfg: dict, res: dict, probs: list):
    t0 = time.time()
    n_dev, n_fresh = cfg['unet'] if name == 'digits_unet' else (cfg['n_dev'], cfg['n_fresh'])
    p = make_problem(name, n_dev, n_fresh, cfg['ref_steps'])
    p['rows'], skipped = run_dev(p, cfg['budgets'])
    print(f'{name}: dev sweep {time.time() - t0:.0f} s', flush=True)
    head = headline(p, p['rows'], cfg['budgets'])
    fitted, fcells = [], []
    if name != 'digits_unet':
        try: fitted += fit_calibrated(p, [b for b in FITTED_BUDGETS if b in cfg['budgets']])
        except Exception as e: res['not_run'].append(f'samples_calibrated on {name}: {type(e).__name__}: {e}')
    else: res['not_run'].append('samples_calibrated on digits_unet: not run (its fits cost minutes per grid here)')
    if tune_sampler is None: res['not_run'].append(f'tune_sampler on {name}: smalldiffusion.tuning is missing')
    else:
        try: fitted += fit_tuner(p, cfg['budgets'])
        except Exception as e: res['not_run'].append(f'tune_sampler on {name}: {type(e).__name__}: {str(e)[:200]}')
    fcells = fitted_cells(p, p['rows'], fitted)
    keep = {k: p[k] for k in ('name', 'sigma_data', 'ref_error_half_steps', 'tuned_here', 'train_seconds',
                              'weights_sha256', 'ref_seconds', 'sig_min', 'sig_max')}
    entry = dict(**keep, n_dev=n_dev, n_fresh=n_fresh, grids=list(grids_of(p)), skipped=skipped,
                 failed=sorted({r['sampler'] + ' (' + r['error'] + ')' for r in p['rows'] if 'error' in r}),
                 dev=_compact(p['rows']), headline=head, fitted=fcells)
    res['problems'].append(entry); probs.append(p)
    if p['mixture'] is not None and name != 'flow16': res['sde'].append(run_sde(p, [b for b in SDE_BUDGETS
                                                                                      if b in cfg['budgets']] or [10]))
    if name == 'digits_unet': res['fd'] = fd_scores(p, p['rows'], cfg['fd_n'], cfg['budgets'])
    entry['seconds'] = time.time() - t0
    print(f'{name}: {entry["seconds"]:.0f} s', flush=True)

def main(argv=None):
    global CAL_BATCH, TUNER_BATCH
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='small draws, budgets 5 and 10 (development)')
    ap.add_argument('--problems', nargs='+', default=list(PROBLEMS))
    ap.add_argument('--out', default=str(RESULTS))
    ap.add_argument('--no-overhead', action='store_true')
    ap.add_argument('--plot-only', action='store_true', help='only redraw samplers.png from the samplers.json in --out')
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.plot_only: return plot(json.loads((out / 'samplers.json').read_text()), out / 'samplers.png')
    warnings.filterwarnings('ignore')
    from diffusers.utils import logging as dlog; dlog.set_verbosity_error()
    cfg = QUICK if args.quick else FULL
    CAL_BATCH, TUNER_BATCH, t_all = cfg['cal_batch'], cfg['tuner_batch'], time.time()
    hardware = (f'{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, no GPU'
                if not torch.cuda.is_available() else torch.cuda.get_device_name())
    res = dict(budgets=list(cfg['budgets']), quick=args.quick, config={k: v for k, v in cfg.items()},
               hardware=hardware, settings=settings_list(), problems=[], sde=[], not_run=[],
               seeds=dict(dev=DEV_SEED, fresh=FRESH_SEED, calibration=CAL_SEED, data=DATA_SEED),
               tuned_per_stat=list(TUNED_PER_STAT))
    probs = []
    for name in args.problems: run_problem(name, cfg, res, probs)
    res['single'] = single_setting(probs, cfg['budgets'])
    if recommended is None: res['not_run'].append('recommended: smalldiffusion.tuning is missing')
    else: res['recommended'] = recommended_vs_peer(probs, res['single'], cfg['budgets'])
    if not args.no_overhead: res['overhead'] = time_overhead()
    res['seconds'] = time.time() - t_all
    write_json(res, out / 'samplers.json'); plot(res, out / 'samplers.png')
    for line in res['not_run']: print('not run:', line)
    print(f"\n{res['seconds']:.0f} s; wrote {out / 'samplers.json'} and {out / 'samplers.png'}")
    return res

def plot(res: dict, path):
    "Fresh-draw RMS error of each side's dev pick per budget (every grid: solid; trailing and Karras: dashed)."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    probs = res['problems']
    fig, axs = plt.subplots(1, len(probs), figsize=(3.6 * len(probs), 3.4))
    for ax, p in zip(np.atleast_1d(axs), probs):
        for side, kind, style in (('ours', 'restricted', 'C0--'), ('peer', 'restricted', 'C1--'),
                                  ('ours', 'every grid', 'C0-'), ('peer', 'every grid', 'C1-')):
            h = [h for h in p['headline'] if h['grids'] == kind and h['stat'] == 'rms']
            ax.loglog([c['budget'] for c in h], [c[side] for c in h], style, marker='o', ms=3,
                      label=f"{'ours' if side == 'ours' else 'diffusers'}, {kind}")
        ax.set_title(p['name'], fontsize=10); ax.set_xlabel('model evaluations', fontsize=9)
        ax.minorticks_off(); ax.set_xticks(res['budgets'], [str(b) for b in res['budgets']])
    np.atleast_1d(axs)[0].set_ylabel('RMS error, fresh draws', fontsize=9)
    np.atleast_1d(axs)[0].legend(fontsize=8)
    fig.tight_layout(); fig.savefig(path, dpi=110, bbox_inches='tight'); plt.close(fig)

if __name__ == '__main__':
    main()
