"""The σ grids of the sampler benchmark (benchmarks/samplers.py): trailing, Karras and trig from the schedule, and the
grids and step weights calibrated on a problem's model, computed once per problem (cached under its key, timed)."""
import time

import torch
from smalldiffusion.samplers import sigmas_karras, sigmas_trig
from smalldiffusion.adams import samples_eps_adams
from smalldiffusion.calibration import sigmas_calibrated, calibrate_weights

from problems import SCHEDULE, SIG_MAX, REF_SIGMA_MIN, problem_key

GRIDS = ('trailing', 'karras', 'trig', 'calibrated', 'calibrated DEIS')
ENDS = ('zero', 'sigma_min')                     # diffusers' final_sigmas_type: step to σ = 0, or stop at σ_min
# grid -> the sampler `sigmas_calibrated` fits it to: ours, and DEIS-2 (our eps-Adams without corrector)
CALIBRATED = {
    'calibrated': lambda m, s, xt: samples_eps_adams(m, s, xt=xt, order=2, corrector=0.5),
    'calibrated DEIS': lambda m, s, xt: samples_eps_adams(m, s, xt=xt, order=2, corrector=0.)}
CAL_BUDGETS, CAL_BATCH, CAL_SEED = (5, 10, 20), 128, 1000   # calibration noise: its own seed, never the test noise
WEIGHTS_BATCH = 1024                     # calibration noise for the step weights (its own seed, never the test noise)
_CAL, _WEIGHTS, CAL_SECONDS = {}, {}, {}   # keyed by problem_key(model); CAL_SECONDS: problem key -> seconds

def heun_steps(nfe: int, end: str='zero') -> int:
    "Heun's steps that fit in `nfe` model calls: 2 per step but 1 for a last step to σ = 0."
    return (nfe + 1) // 2 if end == 'zero' else nfe // 2

def calibrated(model, grid: str, steps: int) -> torch.Tensor:
    "The `grid` calibrated for `model` with `steps` steps to σ_min (computed once; seconds summed in CAL_SECONDS)."
    problem = problem_key(model)
    key = (problem, grid, steps)
    if key not in _CAL:
        t0 = time.time()
        xt = SIG_MAX * torch.randn(CAL_BATCH, *model.input_dims, generator=torch.Generator().manual_seed(CAL_SEED),
                                   dtype=torch.float64)
        _CAL[key] = sigmas_calibrated(model, SCHEDULE, steps, sampler=CALIBRATED[grid], xt=xt)
        CAL_SECONDS[problem] = CAL_SECONDS.get(problem, 0.) + time.time() - t0
    return _CAL[key]

def calibrated_weights(model, sigs: torch.Tensor) -> torch.Tensor:
    """`calibrate_weights` for `model` on `sigs` (once per grid; seconds summed in CAL_SECONDS), on its own calibration
    noise."""
    problem = problem_key(model)
    key = (problem, tuple(sigs.tolist()))
    if key not in _WEIGHTS:
        t0 = time.time()
        xt = SIG_MAX * torch.randn(WEIGHTS_BATCH, *model.input_dims,
                                   generator=torch.Generator().manual_seed(CAL_SEED + 1), dtype=torch.float64)
        _WEIGHTS[key] = calibrate_weights(model, sigs, xt=xt, sigma_min=REF_SIGMA_MIN[problem])
        CAL_SECONDS[problem] = CAL_SECONDS.get(problem, 0.) + time.time() - t0
    return _WEIGHTS[key]

def make_grid(grid: str, steps: int, sigma_data: float, final_zero: bool=True, model=None) -> torch.Tensor:
    "steps + 1 float64 sigmas from σ_max to 0 (or, `final_zero=False`, to σ_min); calibrated grids need the model."
    if grid in CALIBRATED:                                      # calibrated to σ_min; the zero end adds a step to 0
        sigs = calibrated(model, grid, steps - final_zero)
        return torch.cat([sigs, sigs.new_zeros(1)]) if final_zero else sigs
    if grid == 'trailing':
        sigs = SCHEDULE.sample_sigmas(steps).double()
        return torch.cat([sigs[:-1], sigs.new_zeros(1)]) if final_zero else sigs
    if grid == 'karras': return sigmas_karras(SCHEDULE, steps, final_zero=final_zero)
    if grid == 'trig': return sigmas_trig(SCHEDULE, steps, sigma_data=sigma_data, final_zero=final_zero)
    raise ValueError(grid)
