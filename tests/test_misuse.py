"""Every misuse case gets a ValueError or TypeError naming the argument — also under `python -O`, which strips
asserts."""
import os, subprocess, sys
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
import smalldiffusion as sd

class NoDims(nn.Module, sd.ModelMixin):
    def forward(self, x, sigma, cond=None): return x

mlp = sd.TimeInputMLP(hidden_dims=(8,))
sch = sd.ScheduleLogLinear(20)
pairs = [(torch.randn(2), 0) for _ in range(8)]

def first(gen): return next(iter(gen))

def first_step(data, model=mlp, **kw):
    "The first step of `training_loop` on `data` in batches of 4."
    return first(sd.training_loop(DataLoader(data, batch_size=4), model, sch, **kw))

cmlp = sd.ConditionalMLP(num_classes=3, hidden_dims=(8,)).eval()
flow = sd.PredFlow(sd.TimeInputMLP)(hidden_dims=(8,))
x2 = torch.randn(2, 2)

def broken_checkpoint(kind):
    "A checkpoint of `mlp`, truncated or loaded into another model, in a fresh temporary folder."
    import tempfile
    from pathlib import Path
    path = Path(tempfile.mkdtemp()) / 'last.safetensors'
    sd.save_checkpoint(path, model=mlp)
    if kind == 'truncated': path.write_bytes(path.read_bytes()[:100])
    return sd.load_checkpoint(path, mlp if kind == 'truncated' else sd.TimeInputMLP(hidden_dims=(4,)))

CASES = {
    'sigmas increase': (lambda: sd.samples(mlp, [1., 2., 0.5]), ValueError, 'non-increasing'),
    'fewer than two sigmas': (lambda: sd.samples(mlp, [1.]), ValueError, 'at least 2'),
    'mu >= 1': (lambda: sd.samples(mlp, [1., 0.], mu=1.0), ValueError, 'mu must lie in [0, 1)'),
    'mu < 0': (lambda: sd.samples(mlp, [1., 0.], mu=-0.1), ValueError, 'mu must lie in [0, 1)'),
    'gam <= 0': (lambda: sd.samples(mlp, [1., 0.], gam=0), ValueError, 'gam must be > 0'),
    'cond batch != xt batch': (lambda: sd.samples(mlp, [1., 0.], xt=torch.zeros(4, 2), cond=torch.zeros(3)),
                               ValueError, 'cond has batch 3'),
    'cond batch != batchsize': (lambda: sd.samples(mlp, [1., 0.], batchsize=2, cond=torch.zeros(3)),
                                ValueError, 'cond has batch 3'),
    'xt wrong shape': (lambda: sd.samples(mlp, [1., 0.], xt=torch.zeros(4, 3)), ValueError, 'xt must have shape'),
    'schedule N < 1': (lambda: sd.ScheduleDDPM(0), ValueError, 'N must be >= 1'),
    'sigma_min <= 0': (lambda: sd.ScheduleLogLinear(10, sigma_min=0.), ValueError, 'sigma_min must be > 0'),
    'sigma_min >= sigma_max': (lambda: sd.ScheduleLogLinear(10, sigma_min=2., sigma_max=1.),
                               ValueError, 'sigma_min must be < sigma_max'),
    'beta outside (0, 1)': (lambda: sd.ScheduleDDPM(10, beta_end=1.2), ValueError, 'beta_end must lie in (0, 1)'),
    'betas outside (0, 1)': (lambda: sd.sigmas_from_betas(torch.tensor([0.5, 1.5])),
                             ValueError, 'betas must lie in (0, 1)'),
    'sample_sigmas steps < 1': (lambda: sch.sample_sigmas(0), ValueError, 'steps must be >= 1'),
    'sample_sigmas too many steps': (lambda: sch.sample_sigmas(21), ValueError, 'more than the schedule has'),
    'sample_sigmas float steps': (lambda: sch.sample_sigmas(2.5), TypeError, 'steps must be an int'),
    'pairs without conditional': (lambda: first_step(pairs), ValueError, 'pass conditional=True'),
    'conditional without pairs': (lambda: first_step(torch.randn(8, 2), conditional=True),
                                  ValueError, 'expects the loader to yield (data, labels)'),
    'model without input_dims': (lambda: sd.samples(NoDims(), [1., 0.]), TypeError, 'has no `input_dims`'),
    'rand_input without input_dims': (lambda: NoDims().rand_input(2), TypeError, 'has no `input_dims`'),
    'empty Swissroll': (lambda: sd.Swissroll(0, 1, 0), ValueError, 'N must be >= 1'),
    'empty TreeDataset': (lambda: sd.TreeDataset(num_samples_per_path=0),
                          ValueError, 'num_samples_per_path must be >= 1'),
    'IdealDenoiser of empty data': (lambda: sd.IdealDenoiser([]), ValueError, 'dataset is empty'),
    'IdealDenoiser wrong dimension': (lambda: sd.IdealDenoiser(torch.randn(5, 2))(torch.randn(3, 4), torch.tensor(1.)),
                                      ValueError, 'x must have shape'),
    'CFG without condition embedder': (lambda: first(sd.samples(mlp, [1., 0.], cond=torch.zeros(1, dtype=torch.long),
                                                                cfg_scale=3.)),
                                       ValueError, 'needs a model with a condition embedder'),
    'epochs < 1': (lambda: sd.training_loop(DataLoader(torch.randn(8, 2)), mlp, sch, epochs=0),
                   ValueError, 'epochs must be >= 1'),
    'resume_from missing': (lambda: sd.training_loop(DataLoader(torch.randn(8, 2)), mlp, sch,
                                                     resume_from='no/such.safetensors'),
                            FileNotFoundError, 'no checkpoint at'),
    'EMA decay >= 1': (lambda: sd.make_ema(mlp, 1.0), ValueError, 'decay must lie in [0, 1)'),
    # values, not only shapes
    'class id >= num_classes': (lambda: cmlp(x2, torch.tensor(1.), torch.tensor([0, 7])),
                                ValueError, 'cond holds class ids [7] outside [0, 2]'),
    'negative class id': (lambda: cmlp(x2, torch.tensor(1.), torch.tensor([-1, 0])), ValueError, 'outside [0, 2]'),
    'class id out of range while sampling': (
        lambda: list(sd.samples(cmlp, [1., 0.], batchsize=2, cond=torch.tensor([0, 9]))),
        ValueError, 'build the model with num_classes > 9'),
    'float class ids': (lambda: cmlp(x2, torch.tensor(1.), torch.tensor([0., 1.])), TypeError, 'integer class ids'),
    'cond (B, 1)': (lambda: cmlp(x2, torch.tensor(1.), torch.tensor([[0], [1]])),
                    ValueError, 'cond must have shape (B,)'),
    'sigma 0 for log-sigma model': (lambda: mlp(x2, torch.tensor(0.)), ValueError, 'sigma must be finite and > 0'),
    'negative sigma': (lambda: mlp(x2, torch.tensor([1., -2.])), ValueError, 'sigma must be finite and > 0, got -2.0'),
    'NaN sigma': (lambda: mlp(x2, torch.tensor(float('nan'))), ValueError, 'got nan'),
    'sigma 0 for IdealDenoiser': (lambda: sd.IdealDenoiser(torch.randn(5, 2))(x2, torch.tensor(0.)),
                                  ValueError, 'sigma must be finite and > 0'),
    'flow time > 1': (lambda: flow.predict_eps(x2, torch.tensor(10.)), ValueError, 'takes times sigma = t in [0, 1]'),
    'flow trained on a log-linear schedule': (
        lambda: first(sd.training_loop(DataLoader(torch.randn(8, 2), batch_size=4), flow,
                                       sd.ScheduleLogLinear(10, sigma_min=2.))),
        ValueError, 'ScheduleFlow'),
    'float64 x for float32 model': (lambda: mlp(x2.double(), torch.tensor(1.)),
                                    TypeError, 'x is torch.float64 but TimeInputMLP has torch.float32'),
    'integer x': (lambda: mlp(torch.ones(2, 2, dtype=torch.long), torch.tensor(1.)),
                  TypeError, 'x must be a floating-point tensor'),
    'integer xt to a sampler': (lambda: list(sd.samples(mlp, [1., 0.], xt=torch.ones(2, 2, dtype=torch.long))),
                                TypeError, 'floating-point'),
    'cfg_scale NaN': (lambda: cmlp.predict_eps_cfg(x2, torch.tensor(1.), torch.tensor([0, 1]), float('nan')),
                      ValueError, 'cfg_scale must be a finite number'),
    'uint8 training data': (lambda: first_step(torch.zeros(8, 2, dtype=torch.uint8)),
                            TypeError, 'floating-point data, got torch.uint8'),
    'NaN training data': (lambda: first_step(torch.full((8, 2), float('nan'))),
                          ValueError, 'NaN or inf values at step 0'),
    'inf training data': (lambda: first_step(torch.full((8, 2), float('inf'))), ValueError, 'NaN or inf values'),
    'lr <= 0': (lambda: sd.training_loop(DataLoader(torch.randn(8, 2)), mlp, sch, lr=0),
                ValueError, 'lr must be a finite number > 0'),
    'lr NaN': (lambda: sd.training_loop(DataLoader(torch.randn(8, 2)), mlp, sch, lr=float('nan')),
               ValueError, 'lr must be a finite number > 0'),
    'sample_batch of integer data': (lambda: sch.sample_batch(torch.zeros(3, 2, dtype=torch.int32)),
                                     TypeError, 'x0 must be a floating-point tensor'),
    'ScheduleFlow t_max > 1': (lambda: sd.ScheduleFlow(10, t_max=1.5), ValueError, 't_max must be <= 1'),
    'sigma_max infinite': (lambda: sd.ScheduleLogLinear(10, sigma_max=float('inf')),
                           ValueError, 'sigma_max must be finite'),
    'truncated checkpoint': (lambda: broken_checkpoint('truncated'), ValueError, 'is truncated or corrupted'),
    'checkpoint of another model': (lambda: broken_checkpoint('other'), ValueError, 'shape mismatches'),
}

@pytest.mark.parametrize('name', CASES)
def test_misuse_raises_clear_error(name):
    fn, exc, message = CASES[name]
    with pytest.raises(exc, match=None) as info: fn()
    assert message in str(info.value), f'{name}: {info.value}'

def test_unknown_datasaurus_lists_names(datasaurus_tsv):
    with pytest.raises(ValueError) as info: sd.DatasaurusDozen(datasaurus_tsv, 'dragon')
    assert "'dino'" in str(info.value) and "'star'" in str(info.value)

def test_errors_survive_python_O(root):
    "The same cases under `python -O`: validation must not rely on assert."
    if os.environ.get('SMALLDIFFUSION_UNDER_O'): pytest.skip('already running under -O')
    env = dict(os.environ, SMALLDIFFUSION_UNDER_O='1')
    proc = subprocess.run([sys.executable, '-O', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', __file__,
                           '-k', 'misuse'], capture_output=True, text=True, env=env, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert 'passed' in proc.stdout
