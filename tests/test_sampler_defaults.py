"""Defaults are what users run: every sampler at its default arguments, on the grids users pick, against the simplest
sampler at the same number of model evaluations, on a small network trained here (seconds) as well as on exact
mixtures, and on flow models.

The rule (issue 21): a deterministic sampler is never worse than twice DDIM's error (`samples`, γ = 1, μ = 0) at the
same number of model evaluations at 5, 10, 20 and 50, on the trailing and Karras grids from the top of DDPM(1000);
on flow models, on both standard flow grids, never worse than Euler at 50 steps nor than twice Euler at 10. Where a
method is not safe on a grid it must say so: a `GridWarning` naming the step. The stochastic sampler is held to the
same rule against DDPM (`samples`, μ = 0.5) by a distribution distance.

Errors are medians over 256 draws of the distance to a fine solve of the same model from the same noise, in float64;
the factor 2 is the issue's margin, far above the draws' sampling spread (a few % of the median)."""
import math, warnings
import pytest
import torch
from smalldiffusion import (GaussianMixture, GaussianMixtureDenoiser, GaussianMixtureFlow, PredFlow, ScheduleDDPM,
                            ScheduleFlow, TimeInputMLP, samples, samples_heun, samples_dpmpp_2m, samples_dpmpp_2m_sde,
                            samples_trig_pc, samples_eps_adams, samples_x0_adams, samples_singlestep, solve_pf_ode,
                            training_loop)
from smalldiffusion.checks import GridWarning
from smalldiffusion.model import Scaled
from smalldiffusion.samplers import sigmas_karras
from smalldiffusion.tuning import recommended

SCHEDULE = ScheduleDDPM(1000)
SIG_MIN, SIG_MAX = float(SCHEDULE.sigmas.min()), float(SCHEDULE.sigmas.max())
ODE = [samples_heun, samples_dpmpp_2m, samples_trig_pc, samples_eps_adams, samples_x0_adams, samples_singlestep]
BUDGETS = (5, 10, 20, 50)
f64 = dict(dtype=torch.float64)


def digits():
    from sklearn.datasets import load_digits
    return torch.tensor(load_digits().data, dtype=torch.float32) / 8 - 1


def train(model, schedule, steps: int=1500, seed: int=0):
    "A few seconds of training on the 8x8 digits (1797 images as 64-vectors in [-1, 1]), as a user would."
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(digits(), batch_size=128, shuffle=True, drop_last=True)
    for _ in training_loop(loader, model, schedule, epochs=math.ceil(steps / len(loader)), lr=2e-3): pass
    return model.eval().double()


def noise(n, d, scale=1., seed=5):
    return scale * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), **f64)


@torch.no_grad()
def fine_solve(model, x, net: bool) -> torch.Tensor:
    """RK4 on 300 Karras steps: to σ = 0 for an exact mixture; for a network to its training σ_min, then the denoised
    estimate there (what every sampler's last step to 0 returns)."""
    if not net: return solve_pf_ode(model, x, sigmas_karras(torch.tensor([1e-4, SIG_MAX]), 300))
    xr = solve_pf_ode(model, x, sigmas_karras(torch.tensor([SIG_MIN, SIG_MAX]), 300, final_zero=False))
    return xr - SIG_MIN * model.predict_eps(xr, xr.new_tensor(SIG_MIN))


@pytest.fixture(scope='module')
def eps_problems():
    "(name, model, start noise at σ_max, reference): an ε-MLP trained here, and two exact mixtures."
    net = train(Scaled(TimeInputMLP)(dim=64, hidden_dims=(128, 128, 128)), SCHEDULE)
    x = noise(256, 64, SIG_MAX)
    out = [('digits MLP', net, x, fine_solve(net, x, True))]
    g = torch.Generator().manual_seed(4)
    wide = GaussianMixture(4 * torch.randn(5, 4, generator=g, **f64),
                           torch.tensor([0.02, 0.1, 0.5, 1.5, 3.])[:, None] * torch.tensor([1., 0.3, 1., 2.]),
                           weights=[0.35, 0.25, 0.2, 0.1, 0.1])
    for name, mix in (('16-D mixture', GaussianMixture.random(k=8, dim=16, seed=3)), ('wide 4-D mixture', wide)):
        model, x = GaussianMixtureDenoiser(mix), noise(256, mix.means.shape[1], SIG_MAX)
        out.append((name, model, x, fine_solve(model, x, False)))
    return out


def grid(kind: str, steps: int) -> torch.Tensor:
    "diffusers' trailing spacing of the schedule's levels, or Karras' ρ = 7, each ending with a step to σ = 0."
    if kind == 'karras': return sigmas_karras(SCHEDULE, steps)
    s = SCHEDULE.sample_sigmas(steps).double()
    return torch.cat([s[:-1], s.new_zeros(1)])


def run(sampler, model, sigmas, x) -> tuple:
    "(final sample, whether the sampler warned that the grid is too coarse for it)."
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter('always')
        *_, y = sampler(model, sigmas, xt=x)
    return y, any(issubclass(w.category, GridWarning) for w in got)


def err(y, ref) -> float: return float((y - ref).norm(dim=1).median())


@pytest.mark.parametrize('sampler', ODE, ids=[s.__name__ for s in ODE])
def test_deterministic_defaults_within_twice_ddim_or_warn(sampler, eps_problems):
    bad = []
    for name, model, x, ref in eps_problems:
        for kind in ('trailing', 'karras'):
            for nfe in BUDGETS:
                ddim = err(run(samples, model, grid(kind, nfe), x)[0], ref)
                steps = (nfe + 1) // 2 if sampler is samples_heun else nfe   # Heun: 2 calls a step, 1 for the last
                y, warned = run(sampler, model, grid(kind, steps), x)
                if not warned and not err(y, ref) <= 2 * ddim:
                    bad.append(f'{name}, {kind}, {nfe} evaluations: {err(y, ref):.3g} vs DDIM {ddim:.3g}')
    assert not bad, f'{sampler.__name__} at its defaults, more than twice DDIM with no GridWarning: {bad}'


def test_the_safe_default_never_warns_on_these_grids(eps_problems):
    "samples_eps_adams (DEIS at its defaults) is within twice DDIM everywhere above without warning: the safe pick."
    name, model, x, ref = eps_problems[0]
    for kind in ('trailing', 'karras'):
        for nfe in BUDGETS:
            assert not run(samples_eps_adams, model, grid(kind, nfe), x)[1], (kind, nfe)


def test_recommended_within_twice_ddim_without_warning(eps_problems):
    """`recommended(schedule, nfe)`, the default for users who will not calibrate, runs on its own grid (the schedule's
    trailing levels, stopping at σ_min): within twice DDIM on that grid at every budget, scored at σ_min, silently."""
    bad = []
    for name, model, x, _ in eps_problems:
        ref = solve_pf_ode(model, x, sigmas_karras(torch.tensor([SIG_MIN, SIG_MAX]), 300, final_zero=False))
        for nfe in BUDGETS:
            sampler, sigmas = recommended(SCHEDULE, nfe)
            (y, warned), ddim = run(sampler, model, sigmas, x), err(run(samples, model, sigmas, x)[0], ref)
            if warned or not err(y, ref) <= 2 * ddim:
                bad.append(f'{name}, {nfe}: {err(y, ref):.3g} vs DDIM {ddim:.3g}, warned {warned}')
    assert not bad, bad


def sliced_w2(a, b, n_proj: int=128) -> float:
    "Sliced 2-Wasserstein distance between two equal-size point clouds (fixed random directions)."
    dirs = torch.randn(a.shape[1], n_proj, generator=torch.Generator().manual_seed(0), **f64)
    dirs /= dirs.norm(dim=0)
    return float(((a @ dirs).sort(0).values - (b @ dirs).sort(0).values).pow(2).mean().sqrt())


def test_stochastic_default_within_twice_ddpm(eps_problems):
    """samples_dpmpp_2m_sde at its defaults against DDPM by sliced W2 to the model's own distribution (its fine ODE
    solve from other noise), at 10, 20 and 50 evaluations on both grids; the floor is the same distance between two
    fine solves, which both must exceed by sampling error alone."""
    bad = []
    for name, model, x, ref in eps_problems:
        other = fine_solve(model, noise(len(x), x.shape[1], SIG_MAX, seed=6), name == 'digits MLP')
        floor = sliced_w2(ref, other)
        for kind in ('trailing', 'karras'):
            for nfe in (10, 20, 50):
                torch.manual_seed(7); ddpm = sliced_w2(run(lambda m, s, xt: samples(m, s, mu=0.5, xt=xt),
                                                           model, grid(kind, nfe), x)[0], other)
                torch.manual_seed(7); y, warned = run(samples_dpmpp_2m_sde, model, grid(kind, nfe), x)
                if not warned and not sliced_w2(y, other) <= 2 * max(ddpm, floor):
                    bad.append(f'{name}, {kind}, {nfe}: {sliced_w2(y, other):.3g} vs DDPM {ddpm:.3g}, '
                               f'floor {floor:.3g}')
    assert not bad, bad


# ---------------------------------------------------------------- flow models
@pytest.fixture(scope='module')
def flow_problems():
    "(name, flow model, start noise at t = 1, reference): a flow MLP trained here, and an exact mixture flow."
    net = train(PredFlow(TimeInputMLP)(dim=64, hidden_dims=(128, 128, 128)), ScheduleFlow(), steps=1500)
    mix = GaussianMixtureFlow(GaussianMixture.random(k=8, dim=16, seed=7))
    out = []
    for name, model, d in (('digits flow MLP', net, 64), ('16-D mixture flow', mix, 16)):
        x = noise(256, d)
        xr = solve_pf_ode(model, x, torch.linspace(1, 1e-4, 2000, **f64))   # RK4 on dx/dt = v; then a last Euler step
        with torch.no_grad(): out.append((name, model, x, xr - 1e-4 * model.predict_eps(xr, xr.new_tensor(1e-4))))
    return out


def flow_grid(kind: str, steps: int) -> torch.Tensor:
    """FlowMatchEulerDiscreteScheduler's times (linspace(1, 0.001) then 0), or the uniform grid of diffusers'
    `use_flow_sigmas` schedulers (from 1 - 1/1000 down in equal steps, then 0)."""
    if kind == 'FlowMatchEuler': return ScheduleFlow(t_min=1e-3).sample_sigmas(steps)
    return torch.cat([torch.linspace(0.999, 0.999 / steps, steps, **f64), torch.zeros(1, **f64)])


@pytest.mark.parametrize('sampler', ODE, ids=[s.__name__ for s in ODE])
def test_flow_defaults_within_euler_or_warn(sampler, flow_problems):
    bad = []
    for name, model, x, ref in flow_problems:
        for kind in ('FlowMatchEuler', 'use_flow_sigmas'):
            for steps, factor in ((10, 2.), (50, 1.)):
                euler = err(run(samples, model, flow_grid(kind, steps), x)[0], ref)
                y, warned = run(sampler, model, flow_grid(kind, steps), x)
                if not warned and not err(y, ref) <= factor * euler:
                    bad.append(f'{name}, {kind}, {steps} steps: {err(y, ref):.3g} vs Euler {euler:.3g}')
    assert not bad, f'{sampler.__name__} at its defaults on flow models, with no GridWarning: {bad}'


def test_heun_on_flow_models_steps_in_t(flow_problems):
    "Heun's trapezoid in the flow's own time: well under Euler's error on both flow grids, and no warning."
    for name, model, x, ref in flow_problems:
        for kind in ('FlowMatchEuler', 'use_flow_sigmas'):
            euler = err(run(samples, model, flow_grid(kind, 10), x)[0], ref)
            y, warned = run(samples_heun, model, flow_grid(kind, 10), x)
            assert not warned and err(y, ref) < euler, (name, kind, err(y, ref), euler)


def test_recommended_on_flow_models(flow_problems):
    "`recommended` on a flow schedule: the uniform time grid to t_min, within twice Euler at 10 steps, under it at 50."
    schedule = ScheduleFlow(t_min=1e-3)
    for name, model, x, _ in flow_problems:
        ref = solve_pf_ode(model, x, torch.linspace(1, 1e-3, 2000, **f64))
        for steps, factor in ((10, 2.), (50, 1.)):
            sampler, ts = recommended(schedule, steps)
            (y, warned), euler = run(sampler, model, ts, x), err(run(samples, model, ts, x)[0], ref)
            assert not warned and err(y, ref) <= factor * euler, (name, steps, err(y, ref), euler)
