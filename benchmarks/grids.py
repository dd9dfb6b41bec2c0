"""The σ grids of the sampler benchmark (benchmarks/samplers.py), in σ form (x = x0 + σ ε), from a problem's σ_max to
0 ('zero' end) or to its σ_min ('sigma_min' end, as diffusers' final_sigmas_type='sigma_min'):

  trailing  the schedule's own spacing (`sample_sigmas`, diffusers' trailing timesteps); on flow16, uniform in t
            (diffusers' flow grid, `use_flow_sigmas` and FlowMatchEulerDiscreteScheduler's default)
  karras    EDM's ρ = 7 grid over [σ_min, σ_max]
  trig      `sigmas_trig` fed the data's standard deviation
  shift3    (flow16 only) the uniform t grid with SD3's time shift 3: t' = 3t / (1 + 2t)
No grid is fitted to a model: a grid calibrated on the model is a fitted method, and the tuner's rows carry its own.
"""
import torch
from smalldiffusion.samplers import sigmas_karras, sigmas_trig

from problems import FLOW_T_MAX, FLOW_T_MIN

RESTRICTED = ('trailing', 'karras')
ENDS = ('zero', 'sigma_min')

def grids_of(p: dict) -> tuple:
    return RESTRICTED + ('trig',) + (('shift3',) if p['name'] == 'flow16' else ())

def heun_steps(nfe: int, end: str='zero') -> int:
    "Heun's steps that fit in `nfe` model calls: 2 per step but 1 for a last step to σ = 0."
    return (nfe + 1) // 2 if end == 'zero' else nfe // 2

def _flow_t(steps: int, end: str, shift: float=1.) -> torch.Tensor:
    t = torch.linspace(FLOW_T_MAX, 0. if end == 'zero' else FLOW_T_MIN, steps + 1, dtype=torch.float64)
    return shift * t / (1 + (shift - 1) * t)

def make_grid(p: dict, grid: str, steps: int, end: str='zero') -> torch.Tensor:
    "steps + 1 float64 sigmas of `grid` for problem `p`, from its σ_max to 0 (`end='zero'`) or to its σ_min."
    zero, rng = end == 'zero', torch.tensor([p['sig_min'], p['sig_max']], dtype=torch.float64)
    if grid in ('trailing', 'shift3') and p['name'] == 'flow16':
        t = _flow_t(steps, end, 3. if grid == 'shift3' else 1.)
        return t / (1 - t)
    if grid == 'trailing':
        sigs = p['schedule'].sample_sigmas(steps).double()
        return torch.cat([sigs[:-1], sigs.new_zeros(1)]) if zero else sigs
    if grid == 'karras': return sigmas_karras(rng, steps, final_zero=zero)
    if grid == 'trig': return sigmas_trig(rng, steps, sigma_data=p['sigma_data'], final_zero=zero)
    raise ValueError(f'grid {grid!r} on {p["name"]}')
