"""Integration checks for the samplers of notebooks 02a, 02d and 02e that do not fit a notebook: guidance, dtypes,
devices, grids (the benchmark harness: test_sampler_benchmark.py)."""
import math

import pytest
import torch
from accelerate import Accelerator
from hypothesis import given, settings, strategies as st

from smalldiffusion import ConditionalMLP, ScheduleDDPM, ScheduleLDM, samples
from smalldiffusion.samplers import samples_heun, samples_dpmpp_2m, samples_dpmpp_2m_sde, sigmas_karras, sigmas_trig
from smalldiffusion.adams import samples_trig_pc, samples_eps_adams, samples_x0_adams, samples_singlestep
from smalldiffusion.calibration import samples_calibrated, deis_weights, calibrate_weights
from smalldiffusion.mixture import GaussianMixture, GaussianMixtureDenoiser

def samples_calibrated_deis(model, sigmas, **kw):
    "samples_calibrated with DEIS's weights for the grid it is given: the generic checks below need no fit."
    return samples_calibrated(model, sigmas, weights=deis_weights(torch.as_tensor(sigmas).double().cpu()), **kw)

SAMPLERS = [samples_heun, samples_dpmpp_2m, samples_dpmpp_2m_sde, samples_trig_pc, samples_eps_adams, samples_x0_adams,
            samples_singlestep, samples_calibrated_deis]


class Guided(torch.nn.Module):
    "A model whose plain ε is another model's guided ε: running a sampler on it must equal guided sampling."
    def __init__(self, model, cond, cfg_scale):
        super().__init__()
        self.model, self.cond, self.cfg_scale, self.input_dims = model, cond, cfg_scale, model.input_dims
    def rand_input(self, b): return self.model.rand_input(b)
    def predict_eps_cfg(self, x, sigma, cond, cfg_scale):
        return self.model.predict_eps_cfg(x, sigma, self.cond, self.cfg_scale)


@pytest.mark.parametrize('sampler', SAMPLERS)
def test_guidance_goes_through_predict_eps_cfg(sampler):
    torch.manual_seed(0)
    model = ConditionalMLP(dim=2, hidden_dims=(16, 16), num_classes=3).eval()
    cond, x = torch.tensor([0, 1, 2, 1]), 5 * torch.randn(4, 2)
    sigmas = sigmas_karras(ScheduleDDPM(1000).sigmas.clamp(max=5.), 6)
    torch.manual_seed(1); guided = list(sampler(model, sigmas, xt=x, cond=cond, cfg_scale=3.))[-1]
    torch.manual_seed(1); plain = list(sampler(model, sigmas, xt=x, cond=cond))[-1]
    torch.manual_seed(1); by_hand = list(sampler(Guided(model, cond, 3.), sigmas, xt=x))[-1]
    torch.testing.assert_close(guided, by_hand)
    assert not torch.allclose(guided, plain)                      # guidance changes the result


@pytest.mark.parametrize('sampler', SAMPLERS)
def test_float32_model_on_float64_grid_stays_float32(sampler):
    model = GaussianMixtureDenoiser(GaussianMixture.random(k=3, dim=4, seed=0)).float()
    outs = list(sampler(model, sigmas_trig(ScheduleLDM(1000), 8), batchsize=3))
    assert len(outs) == 8 and all(o.dtype == torch.float32 and o.shape == (3, 4) for o in outs)
    assert torch.isfinite(outs[-1]).all()


NO_CUDA = 'needs a CUDA device: on the CPU every tensor is already there'

@pytest.mark.parametrize('sampler', SAMPLERS)
@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_accelerator_device(sampler):
    model = GaussianMixtureDenoiser(GaussianMixture.random(k=3, dim=4, seed=0)).cuda()
    acc = Accelerator()
    out = list(sampler(model, sigmas_karras(ScheduleDDPM(1000), 4), batchsize=2, accelerator=acc))[-1]
    assert out.device.type == 'cuda' == acc.device.type


def test_samplers_agree_with_the_exact_flow_at_many_steps():
    "All ODE samplers (and `samples`' DDIM) converge to the same reference solution of the mixture's flow."
    mix = GaussianMixture.random(k=4, dim=8, seed=1)
    model = GaussianMixtureDenoiser(mix)
    x = 80 * torch.randn(64, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sched = torch.tensor([0.01, 80.])
    ref = list(samples_trig_pc(model, sigmas_trig(sched, 400, sigma_data=mix.sigma_data), xt=x,
                               sigma_data=mix.sigma_data))[-1]
    for sampler, tol in [(samples_heun, 1e-3), (samples_dpmpp_2m, 1e-3), (samples, 0.05)]:
        out = list(sampler(model, sigmas_karras(sched, 200), xt=x))[-1]
        assert (out - ref).norm(dim=1).median() < tol, sampler.__name__


@settings(max_examples=50, deadline=None)
@given(lo=st.floats(1e-4, 1.), ratio=st.floats(1.5, 1e4), steps=st.integers(1, 60), rho=st.floats(1., 10.),
       p=st.floats(0.5, 2.), final_zero=st.booleans())
def test_grids_are_decreasing_with_the_right_ends(lo, ratio, steps, rho, p, final_zero):
    hi = lo * ratio
    for grid in [sigmas_karras(torch.tensor([lo, hi], dtype=torch.float64), steps, rho=rho, final_zero=final_zero),
                 sigmas_trig(torch.tensor([hi, lo], dtype=torch.float64), steps, sigma_data=0.5, p=p,
                             final_zero=final_zero)]:
        assert len(grid) == steps + 1 and grid.dtype == torch.float64
        assert (grid.diff() < 0).all()
        assert math.isclose(grid[0], hi, rel_tol=1e-9)
        assert grid[-1] == 0 if final_zero else math.isclose(grid[-1], lo, rel_tol=1e-9)
        if final_zero and steps > 1: assert math.isclose(grid[-2], lo, rel_tol=1e-9)



@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_calibrate_weights_on_the_model_device():
    "Calibration noise is drawn on the model's device, the weights come back on the CPU and sample there too."
    model = GaussianMixtureDenoiser(GaussianMixture.random(k=3, dim=4, seed=0)).cuda()
    sigmas = sigmas_karras(ScheduleDDPM(1000), 4)
    W = calibrate_weights(model, sigmas, batchsize=64, iters=10, sigma_min=1e-3)
    assert W.device.type == 'cpu' and W.shape == (4, 3)
    out = list(samples_calibrated(model, sigmas, batchsize=2, weights=W, accelerator=Accelerator()))[-1]
    assert out.device.type == 'cuda' and torch.isfinite(out).all()
