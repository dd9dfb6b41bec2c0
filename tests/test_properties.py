"""Property-based pass (hypothesis) over the samplers, the σ grids and the models' value checks: random valid σ grids,
batch sizes, dtypes (float32, float64, bfloat16) and devices never crash or give NaN/inf; random invalid ones always
raise the documented error."""
import math
import pytest
import torch
from hypothesis import given, settings, assume, strategies as st
import smalldiffusion as sd

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64, torch.bfloat16]
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)   # reproducible on any machine

def mlp(dtype, device, dim=2):
    torch.manual_seed(0)
    return sd.TimeInputMLP(dim=dim, hidden_dims=(8, 8)).to(device=device, dtype=dtype)

# strictly decreasing positive grids, optionally ending at 0 (all samplers take these)
@st.composite
def sigma_grids(draw, max_len=10):
    kind = draw(st.sampled_from(['random', 'schedule', 'karras']))
    if kind == 'random':
        logs = draw(st.lists(st.floats(-3, 3), min_size=2, max_size=max_len, unique=True))
        sig = sorted({round(10 ** v, 6) for v in logs}, reverse=True)
        assume(len(sig) >= 2 and all(a > b for a, b in zip(sig, sig[1:])))
        sig = torch.tensor(sig, dtype=torch.float64)
    else:
        sch = sd.ScheduleLogLinear(draw(st.integers(10, 500)), sigma_min=draw(st.floats(1e-3, 0.5)),
                                   sigma_max=draw(st.floats(1., 100.)))
        steps = draw(st.integers(1, max_len - 1))
        sig = (sch.sample_sigmas(steps).double() if kind == 'schedule'
               else sd.sigmas_karras(sch, steps, final_zero=False))
        assume(bool((sig[1:] < sig[:-1]).all()))   # float32 schedules may repeat a value when steps ~ N
    if draw(st.booleans()): sig = torch.cat([sig, sig.new_zeros(1)])
    return sig

SAMPLERS = {
    'samples': lambda m, s, xt, d: sd.samples(m, s, xt=xt, gam=d(st.floats(1., 2.5)), mu=d(st.floats(0., 0.9))),
    'heun': lambda m, s, xt, d: sd.samples_heun(m, s, xt=xt, churn=d(st.floats(0., 5.))),
    'dpmpp_2m': lambda m, s, xt, d: sd.samples_dpmpp_2m(m, s, xt=xt),
    'dpmpp_2m_sde': lambda m, s, xt, d: sd.samples_dpmpp_2m_sde(m, s, xt=xt, eta=d(st.floats(0., 1.))),
    'trig_pc': lambda m, s, xt, d: sd.samples_trig_pc(m, s, xt=xt, order=d(st.integers(1, 4))),
}

@pytest.mark.parametrize('sampler', SAMPLERS)
@SETTINGS
@given(data=st.data(), sigmas=sigma_grids(), batch=st.integers(1, 5), dtype=st.sampled_from(DTYPES),
       device=st.sampled_from(DEVICES))
def test_valid_grids_never_crash_or_give_nan(sampler, data, sigmas, batch, dtype, device):
    model = mlp(dtype, device)
    xt = (torch.randn(batch, 2) * sigmas[0]).to(device=device, dtype=dtype)
    out = list(SAMPLERS[sampler](model, sigmas, xt, data.draw))
    assert len(out) == len(sigmas) - 1
    for x in out:
        assert x.shape == (batch, 2) and x.dtype == dtype and x.device.type == device
        assert torch.isfinite(x).all(), f'{sampler} gave {x} on {sigmas.tolist()}'

@pytest.mark.parametrize('sampler', SAMPLERS)
@SETTINGS
@given(data=st.data(), sigmas=sigma_grids(), where=st.integers(0, 100),
       bad=st.sampled_from(['increase', 'nan', 'inf', 'zero inside', 'repeat']))
def test_invalid_grids_raise_the_documented_error(sampler, data, sigmas, where, bad):
    s = sigmas.clone(); n = len(s)
    if bad == 'increase':    # one increase in a decreasing list (an increasing list is an inversion: another case)
        assume(n >= 3); i = where % (n - 1); s[i + 1] = s[i] * 2 + 1; message = 'non-increasing'
    elif bad == 'nan': s[where % n] = float('nan'); message = 'finite'
    elif bad == 'inf':       # +inf first or -inf later: never an increasing list
        i = where % n; s[i] = float('inf') if i == 0 else -float('inf'); message = 'finite'
    elif bad == 'zero inside':
        assume(n >= 3); s[where % (n - 2) + 1:] = 0; message = 'only the last'
    else:
        if sampler in ('samples', 'heun'): return   # these two take repeated levels (a step of length 0)
        i = where % (n - 1)
        assume(s[i + 1] > 0); s[i + 1] = s[i]; message = 'strictly decreasing'
    with pytest.raises(ValueError, match=message):
        list(SAMPLERS[sampler](mlp(torch.float32, 'cpu'), s, None, data.draw))

@pytest.mark.parametrize('neg', [1e-3, 0.5, 10.])
def test_negative_last_sigma_is_refused(neg):
    "Found by the property above when the last level may be negative: one example per scale, not shrunk each run."
    with pytest.raises(ValueError):
        list(sd.samples(mlp(torch.float32, 'cpu'), torch.tensor([2., 1., -neg]), batchsize=2, mu=0.5))

@SETTINGS
@given(batch=st.integers(-3, 0) | st.floats(0.5, 3.5).filter(lambda b: b != int(b)),
       sampler=st.sampled_from(list(SAMPLERS)))
def test_invalid_batch_sizes_raise(batch, sampler):
    fns = {'samples': sd.samples, 'heun': sd.samples_heun, 'dpmpp_2m': sd.samples_dpmpp_2m,
           'dpmpp_2m_sde': sd.samples_dpmpp_2m_sde, 'trig_pc': sd.samples_trig_pc}
    with pytest.raises((ValueError, TypeError), match='batchsize must'):
        list(fns[sampler](mlp(torch.float32, 'cpu'), torch.tensor([1., 0.5, 0.]), batchsize=batch))

@SETTINGS
@given(dtype=st.sampled_from([torch.int64, torch.int32, torch.uint8, torch.bool]),
       sampler=st.sampled_from(list(SAMPLERS)))
def test_integer_inputs_raise_type_error(dtype, sampler):
    "Each sampler with its default settings: the model's dtype check names x and the conversion."
    xt = torch.ones(2, 2, dtype=dtype)
    with pytest.raises(TypeError, match='floating-point'):
        list(SAMPLERS[sampler](mlp(torch.float32, 'cpu'), torch.tensor([2., 1., 0.]), xt, _default))

def _default(strategy):
    "The documented default of each knob the samplers draw: gam=1, mu=0, churn=0, eta=1, order=3."
    return {'floats(min_value=1.0, max_value=2.5)': 1., 'floats(min_value=0.0, max_value=0.9)': 0.,
            'floats(min_value=0.0, max_value=5.0)': 0., 'floats(min_value=0.0, max_value=1.0)': 1.,
            'integers(min_value=1, max_value=4)': 3}[repr(strategy)]

def test_integer_xt_refused_by_heun_with_churn():
    with pytest.raises(TypeError, match='floating-point'):
        list(sd.samples_heun(mlp(torch.float32, 'cpu'), torch.tensor([2., 1., 0.]),
                             xt=torch.ones(2, 2, dtype=torch.long), churn=1.))

# the models: any finite σ > 0 and class id in range works in every dtype; anything else is named
@SETTINGS
@given(batch=st.integers(1, 6), dtype=st.sampled_from(DTYPES), device=st.sampled_from(DEVICES),
       log_sigma=st.floats(-4, 4), per_example=st.booleans(), data=st.data())
def test_models_take_every_valid_sigma_and_label(batch, dtype, device, log_sigma, per_example, data):
    torch.manual_seed(0)
    model = sd.ConditionalMLP(num_classes=5, hidden_dims=(8,)).to(device=device, dtype=dtype).eval()
    sigma = torch.full((batch,) if per_example else (), 10 ** log_sigma, dtype=dtype, device=device)
    cond = torch.tensor(data.draw(st.lists(st.integers(0, 5), min_size=batch, max_size=batch)), device=device)
    out = model(torch.randn(batch, 2, dtype=dtype, device=device), sigma, cond)
    assert out.shape == (batch, 2) and out.dtype == dtype and torch.isfinite(out).all()

@SETTINGS
@given(bad=st.sampled_from([0., -1e-3, -5., float('nan'), float('inf'), -float('inf')]), batch=st.integers(1, 4),
       where=st.integers(0, 3))
def test_models_refuse_sigmas_they_cannot_embed(bad, batch, where):
    sigma = torch.ones(batch); sigma[where % batch] = bad
    with pytest.raises(ValueError, match='sigma must be finite and > 0'):
        mlp(torch.float32, 'cpu')(torch.randn(batch, 2), sigma)

@SETTINGS
@given(labels=st.lists(st.integers(-1000, 1000), min_size=1, max_size=6))
def test_class_ids_outside_the_model_raise(labels):
    model = sd.ConditionalMLP(num_classes=5, hidden_dims=(8,)).eval()
    cond, x = torch.tensor(labels), torch.randn(len(labels), 2)
    if all(0 <= c <= 5 for c in labels): assert torch.isfinite(model(x, torch.tensor(1.), cond)).all()
    else:
        with pytest.raises(ValueError, match=r'outside \[0, 4\]'): model(x, torch.tensor(1.), cond)

@SETTINGS
@given(t=st.floats(-10, 10) | st.just(float('nan')), batch=st.integers(1, 4))
def test_flow_models_take_exactly_times_in_0_1(t, batch):
    model = sd.PredFlow(sd.TimeInputMLP)(hidden_dims=(8,))
    x, sig = torch.randn(batch, 2), torch.tensor(t)
    t = sig.item()                  # the float32 time the model sees: tiny t round to 0
    if 0 < t <= 1: assert torch.isfinite(model.predict_eps(x, sig)).all()
    else:   # t = 0 is a flow time, but this network embeds log t
        with pytest.raises(ValueError, match=r'in \[0, 1\]' if t != 0 else 'sigma must be finite and > 0'):
            model.predict_eps(x, sig)

# schedules: valid parameters are covered by test_schedule_properties.py; invalid ones always name the argument
finite = st.floats(-1e3, 1e3)
anything = finite | st.sampled_from([float('nan'), float('inf'), -float('inf'), 0., 1e-40, 1e-46])   # 1e-46: 0 in fp32
F32_MIN = 1.4e-45   # the smallest float32 above 0

@SETTINGS
@given(n=st.integers(-5, 50), lo=anything, hi=anything)
def test_loglinear_parameters(n, lo, hi):
    if n >= 1 and lo >= F32_MIN and hi > lo and math.isfinite(hi):
        s = sd.ScheduleLogLinear(n, sigma_min=lo, sigma_max=hi).sigmas
        assert len(s) == n and torch.isfinite(s).all() and (s > 0).all()
    else:
        with pytest.raises(ValueError, match=r'^(N|sigma_min|sigma_max) must'):
            sd.ScheduleLogLinear(n, sigma_min=lo, sigma_max=hi)

@SETTINGS
@given(n=st.integers(1, 3000), b0=anything, b1=anything,
       cls=st.sampled_from([sd.ScheduleDDPM, sd.ScheduleLDM, sd.ScheduleSigmoid]))
def test_beta_parameters(n, b0, b1, cls):
    if all(0 < b < 1 and 0 < torch.tensor(b, dtype=torch.float32) < 1 for b in (b0, b1)):
        try: s = cls(n, b0, b1).sigmas
        except ValueError as e: assert 'underflow' in str(e); return   # ᾱ below float32: refused, named
        assert torch.isfinite(s).all() and (s >= 0).all()
    else:
        with pytest.raises(ValueError, match=r'^beta_(start|end) must lie in \(0, 1\)'): cls(n, b0, b1)

@SETTINGS
@given(n=st.integers(1, 50), t0=anything, t1=anything)
def test_flow_parameters(n, t0, t1):
    if F32_MIN <= t0 < t1 <= 1:
        s = sd.ScheduleFlow(n, t0, t1).sigmas
        assert ((s >= t0 * (1 - 1e-6)) & (s <= 1)).all()
    else:
        with pytest.raises(ValueError, match=r'^t_(min|max) must'): sd.ScheduleFlow(n, t0, t1)
