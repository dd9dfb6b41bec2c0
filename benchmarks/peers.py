"""diffusers' schedulers in the sampler benchmark (benchmarks/samplers.py): every documented order and variant, run
on our σ grids (injected after `set_timesteps`) with a model's ε, counting the model calls."""
import math

import torch
from diffusers import (DDIMScheduler, EulerDiscreteScheduler, HeunDiscreteScheduler, DPMSolverMultistepScheduler,
                       DPMSolverSinglestepScheduler, UniPCMultistepScheduler, DEISMultistepScheduler,
                       EulerAncestralDiscreteScheduler)

from problems import SIG_MAX
from grids import CALIBRATED, heun_steps, make_grid

BETAS = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule='linear')  # = ScheduleDDPM(1000)
VE_FORM = (EulerDiscreteScheduler, HeunDiscreteScheduler, EulerAncestralDiscreteScheduler)  # step x = x0 + σε

class Counted:
    "ε(x, σ) of a model with python-float σ, counting calls."
    def __init__(self, model): self.model, self.calls = model, 0
    def __call__(self, x, sig):
        self.calls += 1
        return self.model.predict_eps(x, x.new_tensor(float(sig)))

def _peer_configs() -> dict:
    "name -> (scheduler class, constructor arguments): every documented order/variant, final σ = 0 where supported."
    cfg = {'DDIM': (DDIMScheduler, dict(clip_sample=False, set_alpha_to_one=True, timestep_spacing='trailing')),
           'Euler': (EulerDiscreteScheduler, {}), 'Heun': (HeunDiscreteScheduler, {})}
    for lof in (True, False):
        tag = '' if lof else ', no lower-order final'
        for o in (2, 3):
            cfg[f'DPM++({o}M){tag}'] = (DPMSolverMultistepScheduler,
                                        dict(solver_order=o, lower_order_final=lof, final_sigmas_type='zero'))
            cfg[f'DPM++ singlestep {o}{tag}'] = (DPMSolverSinglestepScheduler,
                                                 dict(solver_order=o, lower_order_final=lof, final_sigmas_type='zero'))
            cfg[f'DEIS-{o}{tag}'] = (DEISMultistepScheduler, dict(solver_order=o, lower_order_final=lof))
            for bh in ('bh1', 'bh2'):
                cfg[f'UniPC-{o} {bh}{tag}'] = (UniPCMultistepScheduler, dict(solver_order=o, solver_type=bh,
                                               lower_order_final=lof, final_sigmas_type='zero'))
    return cfg

PEERS = _peer_configs()
SDE_PEERS = {'DPM++(2M) SDE': (DPMSolverMultistepScheduler,
                               dict(algorithm_type='sde-dpmsolver++', final_sigmas_type='zero')),
             'Euler ancestral': (EulerAncestralDiscreteScheduler, {})}

def peer_steps(cls, nfe: int, end: str='zero') -> int:
    "Steps that fit in `nfe` model calls (Heun: 2 per step but 1 for a last step to σ = 0)."
    return heun_steps(nfe, end) if cls is HeunDiscreteScheduler else nfe

def inject(sch, sigs: torch.Tensor):
    "Make a set-up scheduler step on `sigs` (float64, N + 1 values): overwrite its sigmas and (distinct) timesteps."
    n = len(sigs) - 1
    ts = torch.linspace(999, 0, n, dtype=torch.float64)
    if isinstance(sch, HeunDiscreteScheduler):                      # Heun's tables hold every σ but the ends twice
        sch.sigmas = torch.cat([sigs[:1], sigs[1:-1].repeat_interleave(2), sigs[-1:]])
        sch.timesteps = torch.cat([ts[:1], ts[1:].repeat_interleave(2)])
    else:
        sch.sigmas, sch.timesteps = sigs.clone(), ts
    if isinstance(sch, DPMSolverSinglestepScheduler): sch.sample = None

@torch.no_grad()
def run_peer(cls, kwargs: dict, grid, nfe: int, x_start, model, sigma_data: float, seed=None, end: str='zero'):
    """Final σ-form sample of a diffusers scheduler on `grid` with `end`, and the model calls it made ((None, 0): cannot
    run)."""
    sch, eps = cls(**BETAS, **kwargs), Counted(model)
    steps = peer_steps(cls, nfe, end)
    sch.set_timesteps(steps)
    if cls is DEISMultistepScheduler and end == 'zero': return None, 0   # λ = ∞ at σ = 0: DEIS stops at σ_min
    if grid in CALIBRATED and steps != nfe: return None, 0              # calibrated for one call per step: not Heun
    if cls is not DDIMScheduler: inject(sch, make_grid(grid, steps, sigma_data, final_zero=end == 'zero', model=model))
    elif grid != 'trailing' or end != 'zero': return None, 0             # DDIM: its native trailing grid only
    if seed is not None: torch.manual_seed(seed)
    if cls in VE_FORM:
        x = x_start.clone()
        for t in sch.timesteps:
            sch.scale_model_input(x, t)                             # sets the step index
            x = sch.step(eps(x, sch.sigmas[sch.step_index]), t, x).prev_sample
        return x, eps.calls
    if cls is DDIMScheduler:
        ac = sch.alphas_cumprod.double()
        sig_of = [float(((1 - ac[t]) / ac[t]).sqrt()) for t in sch.timesteps] + [0.]
    else: sig_of = sch.sigmas.tolist()
    x = x_start / math.sqrt(1 + sig_of[0] ** 2)                     # VP form
    for i, t in enumerate(sch.timesteps):
        x = sch.step(eps(x * math.sqrt(1 + sig_of[i] ** 2), sig_of[i]), t, x).prev_sample
    return x * math.sqrt(1 + sig_of[-1] ** 2), eps.calls           # back to σ form (σ_last = 0: unchanged)

def peer_loop(cls, kw, steps, x):
    "diffusers' documented loop (set_timesteps, scale_model_input, step) with a trivial model, float32 as users run it."
    sch = cls(**BETAS, **kw); sch.set_timesteps(steps)
    x = x * sch.init_noise_sigma / SIG_MAX
    for t in sch.timesteps:
        xin = sch.scale_model_input(x, t)
        x = sch.step(torch.zeros_like(xin), t, x).prev_sample
    return x
