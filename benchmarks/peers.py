"""diffusers' schedulers in the sampler benchmark (benchmarks/samplers.py): every documented order and variant of its
ODE schedulers, run on our σ grids (injected after `set_timesteps`) with a model's ε (or, in their flow forms, v),
counting the model calls. A configuration diffusers rejects, or that returns non-finite samples, is recorded with its
error, never dropped.

Frozen list (origin of every entry: diffusers' documented constructor options and `step()` arguments, v0.42):
  DDIM, Euler, Heun, LMS (orders 2, 3 and its default 4), DPM-Solver multistep and singlestep (orders 2 and 3,
  `algorithm_type` 'dpmsolver' (ε form) and 'dpmsolver++', `solver_type` 'midpoint' and 'heun'), UniPC (bh1 and
  bh2, orders 2 and 3, `predict_x0` both ways), DEIS (orders 2 and 3), each multistep one with `lower_order_final`
  both ways; `final_sigmas_type` both ways is the grid's end ('zero' or 'sigma_min', set in the constructor and in
  the injected grid).
  On flow16 also the `use_flow_sigmas=True, prediction_type='flow_prediction'` forms of DPM-Solver, UniPC and DEIS,
  and FlowMatchEulerDiscreteScheduler and FlowMatchHeunDiscreteScheduler (on t = σ / (1 + σ)).
"""
import math

import torch
import diffusers
from diffusers import (DDIMScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler, LMSDiscreteScheduler,
                       DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, UniPCMultistepScheduler,
                       DEISMultistepScheduler, EulerAncestralDiscreteScheduler)

from problems import SCHEDULE, SIG_MAX
from grids import heun_steps, make_grid

BETAS = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule='linear')  # = ScheduleDDPM(1000)
VE_FORM = (EulerDiscreteScheduler, HeunDiscreteScheduler, LMSDiscreteScheduler, EulerAncestralDiscreteScheduler)
FLOW_MATCH = tuple(getattr(diffusers, n) for n in ('FlowMatchEulerDiscreteScheduler', 'FlowMatchHeunDiscreteScheduler')
                   if hasattr(diffusers, n))
HEUNS = (HeunDiscreteScheduler,) + FLOW_MATCH[1:]
FINAL_SIGMAS = (DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler, UniPCMultistepScheduler)
PACKAGE = 'diffusers, documented option'

def _peer(cls, kw=None, step_kw=None, form='sigma', origin=PACKAGE) -> dict:
    return dict(cls=cls, kw=kw or {}, step_kw=step_kw or {}, form=form, origin=origin)

def _multistep(flow: bool) -> dict:
    "The multistep and singlestep solvers in every documented order and variant (flow forms if `flow`)."
    cfg, fk = {}, dict(use_flow_sigmas=True, prediction_type='flow_prediction') if flow else {}
    form, sfx = ('flow', ' (flow sigmas)') if flow else ('sigma', '')
    o_st = PACKAGE + ("; solver_type='heun' added after the held-out run of commit 24fab06 (it was missing)")
    for lof in (True, False):
        tag = '' if lof else ', no lower-order final'
        for o in (2, 3):
            for alg, an in (('dpmsolver++', 'DPM-Solver++'), ('dpmsolver', 'DPM-Solver')):
                for st, sn in (('midpoint', ''), ('heun', ' heun')):
                    kw = dict(solver_order=o, lower_order_final=lof, algorithm_type=alg, **fk)
                    if st == 'heun': kw['solver_type'] = 'heun'          # diffusers' default is 'midpoint'
                    org = o_st if st == 'heun' else PACKAGE
                    cfg[f'{an}({o}M){sn}{tag}{sfx}'] = _peer(DPMSolverMultistepScheduler, kw, form=form, origin=org)
                    cfg[f'{an} singlestep {o}{sn}{tag}{sfx}'] = _peer(DPMSolverSinglestepScheduler, kw, form=form,
                                                                      origin=org)
            cfg[f'DEIS-{o}{tag}{sfx}'] = _peer(DEISMultistepScheduler,
                                               dict(solver_order=o, lower_order_final=lof, **fk),
                                               form=form)
            for bh in ('bh1', 'bh2'):
                for px in (True, False):
                    cfg[f'UniPC-{o} {bh}{"" if px else " ε"}{tag}{sfx}'] = _peer(UniPCMultistepScheduler, dict(
                        solver_order=o, solver_type=bh, predict_x0=px, lower_order_final=lof, **fk), form=form)
    return cfg

def _peer_configs() -> dict:
    "name -> peer: the frozen list above."
    cfg = {'DDIM': _peer(DDIMScheduler, dict(clip_sample=False, set_alpha_to_one=True, timestep_spacing='trailing')),
           'Euler': _peer(EulerDiscreteScheduler), 'Heun': _peer(HeunDiscreteScheduler)}
    for o in (2, 3, 4):
        cfg[f'LMS-{o}'] = _peer(LMSDiscreteScheduler, step_kw=dict(order=o),
                                origin=PACKAGE + (' (step() default order 4)' if o == 4 else ''))
    cfg |= _multistep(False) | _multistep(True)
    for cls in FLOW_MATCH: cfg[cls.__name__.replace('DiscreteScheduler', '')] = _peer(cls, form='flow')
    return cfg

PEERS = _peer_configs()
# diffusers' defaults (what a user gets without options), for the FD scoring of the U-Net
PEER_DEFAULTS = ('Euler', 'Heun', 'LMS-4', 'DPM-Solver++(2M)', 'DPM-Solver++ singlestep 2', 'UniPC-2 bh2', 'DEIS-2')
SDE_PEERS = {'DPM-Solver++(2M) SDE': _peer(DPMSolverMultistepScheduler, dict(algorithm_type='sde-dpmsolver++')),
             'Euler ancestral': _peer(EulerAncestralDiscreteScheduler)}

def runs_on(peer: dict, p: dict) -> str | None:
    "None if `peer` runs on problem `p`, else why not (a fixed fact of diffusers' API, recorded in the JSON)."
    if peer['form'] == 'flow' and p['name'] != 'flow16': return 'flow form: flow problems only'
    if peer['cls'] is DDIMScheduler and p['schedule'] is not SCHEDULE:
        return "DDIMScheduler indexes the training ᾱ by timestep: only a ScheduleDDPM(1000) problem's trailing grid"
    return None

def peer_steps(cls, nfe: int, end: str='zero') -> int:
    "Steps that fit in `nfe` model calls (Heun: 2 per step but 1 for a last step to σ = 0)."
    return heun_steps(nfe, end) if cls in HEUNS else nfe

class Counted:
    "A model's output at python-float σ (ε) or t (v, flow form), counting calls."
    def __init__(self, fn): self.fn, self.calls = fn, 0
    def __call__(self, x, s):
        self.calls += 1
        return self.fn(x, x.new_tensor(float(s)))

def inject(sch, sigs: torch.Tensor):
    "Make a set-up scheduler step on `sigs` (N + 1 values): overwrite its sigmas and (distinct) timesteps."
    n = len(sigs) - 1
    ts = torch.linspace(999, 0, n, dtype=torch.float64)
    if isinstance(sch, HEUNS):                                      # Heun's tables hold every σ but the ends twice
        sch.sigmas = torch.cat([sigs[:1], sigs[1:-1].repeat_interleave(2), sigs[-1:]])
        sch.timesteps = torch.cat([ts[:1], ts[1:].repeat_interleave(2)])
    else:
        sch.sigmas, sch.timesteps = sigs.clone(), ts
    if isinstance(sch, DPMSolverSinglestepScheduler): sch.sample = None

def _make(peer: dict, steps: int, end: str):
    cls, kw = peer['cls'], dict(peer['kw'])
    if cls in FINAL_SIGMAS: kw['final_sigmas_type'] = end
    sch = cls(**kw) if cls in FLOW_MATCH else cls(**BETAS, **kw)
    sch.set_timesteps(steps)
    return sch

@torch.no_grad()
def run_peer(peer: dict, p: dict, grid: str, nfe: int, which: str, end: str='zero', seed=None):
    """σ-form final sample of a diffusers scheduler on `grid` and `end` from problem `p`'s `which` draws, and the
    model calls it made; (None, 0) where diffusers' API cannot take the grid (DDIM off its native grid)."""
    cls, x_start = peer['cls'], p['x'][which]
    steps = peer_steps(cls, nfe, end)
    sch, sigs = _make(peer, steps, end), make_grid(p, grid, steps, end)
    if cls is DDIMScheduler and (grid != 'trailing' or end != 'zero'): return None, 0
    if seed is not None: torch.manual_seed(seed)
    if peer['form'] == 'flow': return _run_flow(sch, peer, p, sigs, x_start)
    if cls is not DDIMScheduler: inject(sch, sigs)
    eps = Counted(p['model'].predict_eps)
    if cls in VE_FORM:
        x = x_start.clone()
        for t in sch.timesteps:
            sch.scale_model_input(x, t)                             # sets the step index
            x = sch.step(eps(x, sch.sigmas[sch.step_index]), t, x, **peer['step_kw']).prev_sample
        return x, eps.calls
    if cls is DDIMScheduler:
        ac = sch.alphas_cumprod.double()
        sig_of = [float(((1 - ac[t]) / ac[t]).sqrt()) for t in sch.timesteps] + [0.]
    else: sig_of = sch.sigmas.tolist()
    x = x_start / math.sqrt(1 + sig_of[0] ** 2)                     # VP form
    for i, t in enumerate(sch.timesteps):
        x = sch.step(eps(x * math.sqrt(1 + sig_of[i] ** 2), sig_of[i]), t, x).prev_sample
    return x * math.sqrt(1 + sig_of[-1] ** 2), eps.calls           # back to σ form (σ_last = 0: unchanged)

def _run_flow(sch, peer, p, sigs, x_start):
    "A flow-form scheduler on t = σ / (1 + σ), the flow model's v(x_t, t); returned in σ form, x_σ = x_t / (1 - t)."
    ts = sigs / (1 + sigs)
    inject(sch, ts)
    sch.timesteps = sch.timesteps.float()                           # FlowMatch schedulers refuse integer timesteps
    v, x = Counted(p['user_model'].predict_eps), x_start * (1 - ts[0])
    for t in sch.timesteps:
        if sch.step_index is None: sch._init_step_index(t)
        x = sch.step(v(x, sch.sigmas[sch.step_index]), t, x).prev_sample
    return x / (1 - ts[-1]), v.calls

def peer_loop(cls, kw, steps, x):
    "diffusers' documented loop (set_timesteps, scale_model_input, step) with a trivial model, float32 as users run it."
    sch = cls(**BETAS, **kw); sch.set_timesteps(steps)
    x = x * sch.init_noise_sigma / SIG_MAX
    for t in sch.timesteps:
        xin = sch.scale_model_input(x, t)
        x = sch.step(torch.zeros_like(xin), t, x).prev_sample
    return x
