"""The sampler benchmark's test problems (benchmarks/samplers.py runs them), each with two disjoint sets of starting
noise (development draws, on which every setting is picked, and fresh draws, on which the picks are scored) and a
fine solve of its probability-flow ODE that gives the reference state at any σ where a run stops.

  mixture16   16-D mixture of 8 Gaussians, exact ε, float64 (the problem our defaults were chosen on)
  wide4       4-D mixture of 5 Gaussians, stds 0.006 .. 6, exact ε, float64
  digits_mlp  an ε-MLP trained here on sklearn's 8x8 digits (64-D), float64
  flow16      the exact flow velocity (`GaussianMixtureFlow`) of a 16-D mixture no setting was chosen on (seed 7),
              from t = 0.999 (σ = 999) as diffusers' flow schedulers start, float64
  digits_unet the digits U-Net of the image-training page (its settings: 110 epochs, EMA 0.995), float32
The two networks' weights are committed in benchmarks/weights/ (about a megabyte each), so every run scores the same
networks; the JSON records each file's sha256. Delete a file to retrain it: training is seeded from the model's
construction on (`_trained`; two trainings on one machine gave identical files), but float rounding can differ between
machines and thread counts and long training amplifies it, so a retrained network is a new problem whose numbers need
a new run.

Seeds: a problem's own seed (the mixture's, the training's) is never a noise seed. Development noise, fresh noise,
calibration noise (fitted methods) and data draws (stochastic samplers) each have their own seed range below.
"""
import contextlib, io, math, time
from pathlib import Path

import torch
from smalldiffusion import ScheduleDDPM, ScheduleLogLinear, ScheduleFlow, TimeInputMLP, training_loop
from smalldiffusion.model import Scaled
from smalldiffusion.samplers import sigmas_karras
from smalldiffusion.flow import FlowAsEps
from smalldiffusion.mixture import GaussianMixture, GaussianMixtureDenoiser, GaussianMixtureFlow, solve_pf_ode

WEIGHTS = Path(__file__).parent / 'weights'
SCHEDULE = ScheduleDDPM(1000)   # mixture16, wide4 and digits_mlp start from its top; the digits MLP is trained on it
SIG_MIN, SIG_MAX = float(SCHEDULE.sigmas.min()), float(SCHEDULE.sigmas.max())
UNET_SCHEDULE = ScheduleLogLinear(sigma_min=0.01, sigma_max=20, N=800)   # the image-training page's
FLOW_T_MAX, FLOW_T_MIN = 0.999, 0.001    # diffusers' flow grids start at 1 - 1/1000; ScheduleFlow's t_min
FLOW_SCHEDULE = ScheduleFlow(t_min=FLOW_T_MIN, t_max=FLOW_T_MAX)
# noise seeds: disjoint from each other and from the problems' own seeds (0..7); + 100 * problem index
DEV_SEED, FRESH_SEED, CAL_SEED, DATA_SEED = 10_000, 20_000, 30_000, 40_000
PROBLEMS = ('mixture16', 'wide4', 'digits_mlp', 'flow16', 'digits_unet')
TUNED_ON = {'mixture16'}        # where our frozen settings were chosen (before this protocol)

def wide_mixture() -> GaussianMixture:
    "4-D, 5 components with stds from 0.02 to 3 (per component and per axis), means spread over ±8."
    g = torch.Generator().manual_seed(4)
    means = 4 * torch.randn(5, 4, generator=g, dtype=torch.float64)
    stds = torch.tensor([0.02, 0.1, 0.5, 1.5, 3.])[:, None] * torch.tensor([1., 0.3, 1., 2.])
    return GaussianMixture(means, stds, weights=[0.35, 0.25, 0.2, 0.1, 0.1])

def digits_data() -> torch.Tensor:
    "sklearn's 1797 8x8 digits as (1797, 64) in [-1, 1]."
    from sklearn.datasets import load_digits
    return torch.tensor(load_digits().data, dtype=torch.float32) / 8 - 1

def _train(model, loader, schedule, epochs, lr, ema=None, quiet=False):
    with contextlib.redirect_stderr(io.StringIO()):                 # training_loop's progress bar
        for i, ns in enumerate(training_loop(loader, model, schedule, epochs=epochs, lr=lr, ema=ema)):
            if not quiet and i % 1000 == 0: print(f'  step {i}: loss {ns.loss.item():.4f}', flush=True)

def _trained(build, name, train, seed=0):
    """`build()`'s network with the weights in benchmarks/weights/`name`, or built and trained (both under `seed`) and
    saved there atomically; (model, training seconds, the file's sha256)."""
    import hashlib
    from safetensors.torch import load_file, save_file
    from smalldiffusion.fileio import atomic_write
    path = WEIGHTS / f'{name}.safetensors'
    torch.manual_seed(seed)               # the initial weights: seeded too, not left to whatever ran before
    model, t0 = build(), time.time()
    if path.exists(): model.load_state_dict(load_file(path)); seconds = 0.
    else:
        with torch.enable_grad(): model = train(model)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        atomic_write(path, lambda tmp: save_file(state, tmp))
        seconds = time.time() - t0
    return model.eval().requires_grad_(False), seconds, hashlib.sha256(path.read_bytes()).hexdigest()

def digits_mlp(train_steps: int=6000):
    "An ε-MLP (input scaled to unit variance) trained on the digits on ScheduleDDPM(1000); (model, s, sha256)."
    def train(model):
        loader = torch.utils.data.DataLoader(digits_data(), batch_size=256, shuffle=True, drop_last=True)
        _train(model, loader, SCHEDULE, math.ceil(train_steps / len(loader)), 1e-3); return model
    return _trained(lambda: Scaled(TimeInputMLP)(dim=64, hidden_dims=(256, 256, 256, 256)),
                    f'digits_mlp_scaled_{train_steps}', train)

def digits_unet():
    "The image-training page's digits U-Net (its settings; the EMA weights), committed; (model, s, sha256)."
    from smalldiffusion import Unet, make_ema
    from smalldiffusion.image import Digits
    def train(model):
        loader = torch.utils.data.DataLoader(Digits('train'), batch_size=128, shuffle=True, drop_last=True)
        ema = make_ema(model, decay=0.995)
        _train(model, loader, UNET_SCHEDULE, 110, 3e-3, ema=ema, quiet=True)
        return ema.module
    return _trained(lambda: Scaled(Unet)(8, 1, 1, ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,),
                                         dropout=0.0), 'digits_unet_page', train)

def fine_grid(lo: float, hi: float, n: int, dtype=torch.float64) -> torch.Tensor:
    return sigmas_karras(torch.tensor([lo, hi], dtype=dtype), n, final_zero=False).to(dtype)

def _noise(seed: int, n: int, dims: tuple, scale: float, dtype) -> torch.Tensor:
    return scale * torch.randn(n, *dims, generator=torch.Generator().manual_seed(seed), dtype=dtype)

def _model(name: str):
    """(ε-model in σ form, what a user passes (the flow model for flow16), its schedule, data mixture, σ_data,
    (training seconds, the weights file's sha256 or None))."""
    if name == 'digits_mlp':
        net, s, sha = digits_mlp()
        return net.double(), net.double(), SCHEDULE, None, float(digits_data().std()), (s, sha)
    if name == 'digits_unet':
        from smalldiffusion.image import Digits
        net, s, sha = digits_unet()
        return net, net, UNET_SCHEDULE, None, float(Digits('train').images.std()), (s, sha)
    if name == 'flow16':
        mix = GaussianMixture.random(k=8, dim=16, seed=7)
        flow = GaussianMixtureFlow(mix)
        return FlowAsEps(flow), flow, FLOW_SCHEDULE, mix, mix.sigma_data, (0., None)
    mix = GaussianMixture.random(k=8, dim=16, seed=0) if name == 'mixture16' else wide_mixture()
    model = GaussianMixtureDenoiser(mix)
    return model, model, SCHEDULE, mix, mix.sigma_data, (0., None)

@torch.no_grad()
def make_problem(name: str, n_dev: int, n_fresh: int, ref_steps: int) -> dict:
    """A problem: its ε-model in σ form, σ range, dev and fresh starting states (disjoint seeds) and `ref(which, σ)`,
    the fine solve's state at σ from those draws."""
    i = PROBLEMS.index(name)
    model, user_model, schedule, mix, sigma_data, (train_s, weights_sha) = _model(name)
    exact, dtype = name not in ('digits_mlp', 'digits_unet'), torch.float32 if name == 'digits_unet' else torch.float64
    if name == 'flow16': sig_max, sig_min = FLOW_T_MAX / (1 - FLOW_T_MAX), FLOW_T_MIN / (1 - FLOW_T_MIN)
    else: sig_max, sig_min = float(schedule.sigmas.max()), float(schedule.sigmas.min())
    # flow16 starts from x_t = ε at t = 0.999, as diffusers' flow pipelines: x_σ = x_t / (1 - t) in σ form
    scale = 1 / (1 - FLOW_T_MAX) if name == 'flow16' else sig_max
    x = {w: _noise(seed + 100 * i, n, model.input_dims, scale, dtype)
         for w, seed, n in (('dev', DEV_SEED, n_dev), ('fresh', FRESH_SEED, n_fresh))}
    p = dict(name=name, model=model, user_model=user_model, schedule=schedule, mixture=mix, sigma_data=sigma_data,
             sig_max=sig_max, sig_min=sig_min, exact=exact, dtype=dtype, x=x, refs={}, fresh={}, ref_steps=ref_steps,
             tuned_here=name in TUNED_ON, train_seconds=train_s, weights_sha256=weights_sha, index=i,
             noise=lambda seed, n: _noise(seed + 100 * i, n, model.input_dims, scale, dtype))
    t0 = time.time()
    p['ref_error_half_steps'] = float((_solve(p, x['dev'], 0., ref_steps // 2) - ref(p, 'dev', 0.)).flatten(1)
                                      .norm(dim=1).median())
    p['ref_seconds'] = time.time() - t0
    return p

def _solve(p: dict, x: torch.Tensor, sig_end: float, n: int) -> torch.Tensor:
    "RK4 with n Karras steps from σ_max to sig_end (exact models: to 1e-4, then 0; networks: σ_min, then denoise)."
    if p['exact']:
        lo = sig_end if sig_end > 0 else 1e-4
        grid = fine_grid(lo, p['sig_max'], n)
        return solve_pf_ode(p['model'], x, grid if sig_end > 0 else torch.cat([grid, grid.new_zeros(1)]))
    if 0 < sig_end < p['sig_min'] * (1 - 1e-9): raise ValueError(f'the network is not defined below σ_min: {sig_end}')
    lo = sig_end if sig_end > 0 else p['sig_min']
    xr = solve_pf_ode(p['model'], x, fine_grid(lo, p['sig_max'], n, x.dtype))
    return xr if sig_end > 0 else xr - lo * p['model'].predict_eps(xr, xr.new_tensor(lo))

def ref(p: dict, which: str, sig_end: float) -> torch.Tensor:
    "The fine solve's state at `sig_end` (σ form) from the `which` ('dev' or 'fresh') draws, computed once."
    key = (which, round(float(sig_end), 12))
    if key not in p['refs']: p['refs'][key] = _solve(p, p['x'][which], float(sig_end), p['ref_steps'])
    return p['refs'][key]
