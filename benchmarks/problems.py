"""The sampler benchmark's test problems (benchmarks/samplers.py runs them): two Gaussian mixtures with exact scores
and an MLP trained on sklearn's digits, each with its starting noise and a reference solution of its
probability-flow ODE."""
import contextlib, io, math, time
from pathlib import Path

import torch
from smalldiffusion import ScheduleDDPM, TimeInputMLP, training_loop
from smalldiffusion.model import Scaled
from smalldiffusion.samplers import sigmas_karras
from smalldiffusion.mixture import GaussianMixture, GaussianMixtureDenoiser, solve_pf_ode

CACHE = Path(__file__).parent / 'cache'
SCHEDULE = ScheduleDDPM(1000)   # every problem starts from its top; the digits MLP is trained on it
SIG_MIN, SIG_MAX = float(SCHEDULE.sigmas.min()), float(SCHEDULE.sigmas.max())
REF_SIGMA_MIN = {}   # problem key -> where its reference solve stops before the last step to 0 (the model's range)

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

def digits_mlp(train_steps: int=6000, quiet: bool=False):
    """An ε-MLP (input scaled to unit variance, as DDPM's) trained on the digits with ScheduleDDPM(1000), cached;
    (model, seconds)."""
    from safetensors.torch import load_file, save_file
    model = Scaled(TimeInputMLP)(dim=64, hidden_dims=(256, 256, 256, 256))
    path = CACHE / f'digits_mlp_scaled_{train_steps}.safetensors'
    if path.exists():
        model.load_state_dict(load_file(path)); return model.eval(), 0.
    torch.manual_seed(0); t0 = time.time()
    loader = torch.utils.data.DataLoader(digits_data(), batch_size=256, shuffle=True, drop_last=True)
    epochs = math.ceil(train_steps / len(loader))
    with contextlib.redirect_stderr(io.StringIO()):                 # training_loop's progress bar
        for i, ns in enumerate(training_loop(loader, model, SCHEDULE, epochs=epochs, lr=1e-3)):
            if not quiet and i % 1000 == 0: print(f'  digits MLP step {i}: loss {ns.loss.item():.4f}', flush=True)
    CACHE.mkdir(exist_ok=True)
    save_file(model.state_dict(), path)
    return model.eval(), time.time() - t0

def fine_grid(lo: float, n: int) -> torch.Tensor:
    return sigmas_karras(torch.tensor([lo, SIG_MAX]), n, final_zero=False)

def problem_key(model) -> str:
    """The key `make_problem` gave `model` (its problem's name and seed): what the grids and weights calibrated on it
    are cached under. Not id(model), which Python hands to another object once this one is gone."""
    key = getattr(model, 'bench_problem', None)
    if key is None: raise ValueError('grids and weights calibrated on a model need a model made by make_problem')
    return key

@torch.no_grad()
def make_problem(name: str, batch: int, ref_steps: int, seed: int=0) -> dict:
    "model (float64), σ_data, starting noise, reference solution and its self-consistency error."
    g = torch.Generator().manual_seed(seed + 1)
    if name == 'digits_mlp':
        with torch.enable_grad(): net, train_s = digits_mlp()
        model, sigma_data, tuned = net.double(), float(digits_data().std()), False
        x = SIG_MAX * torch.randn(batch, 64, generator=g, dtype=torch.float64)
        def ref_of(n):
            xr = solve_pf_ode(model, x, fine_grid(SIG_MIN, n))
            return xr - SIG_MIN * model.predict_eps(xr, xr.new_tensor(SIG_MIN))
    else:
        mix = GaussianMixture.random(k=8, dim=16, seed=seed) if name == 'mixture16' else wide_mixture()
        model, sigma_data, tuned, train_s = GaussianMixtureDenoiser(mix), mix.sigma_data, name == 'mixture16', 0.
        x = SIG_MAX * torch.randn(batch, mix.means.shape[1], generator=g, dtype=torch.float64)
        ref_of = lambda n: solve_pf_ode(model, x, torch.cat([fine_grid(1e-4, n), torch.zeros(1, dtype=torch.float64)]))
    key = model.bench_problem = f'{name}, seed {seed}'                  # the same model whenever it is made again
    REF_SIGMA_MIN[key] = SIG_MIN if name == 'digits_mlp' else 1e-4    # where ref_of's solve stops before σ = 0
    t0 = time.time(); ref = ref_of(ref_steps)
    ref_err = float((ref_of(ref_steps // 2) - ref).norm(dim=1).median())
    return dict(name=name, key=key, model=model, sigma_data=sigma_data, x_start=x, ref=ref,
                ref_error_half_steps=ref_err, tuned_here=tuned, train_seconds=train_s, ref_seconds=time.time() - t0,
                mixture=None if name == 'digits_mlp' else mix)
