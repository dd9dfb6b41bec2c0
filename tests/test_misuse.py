"""Every misuse case gets a ValueError or TypeError naming the argument — also under `python -O`, which strips asserts."""
import os, subprocess, sys
import numpy as np
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

CASES = {
    'sigmas increase': (lambda: sd.samples(mlp, [1., 2., 0.5]), ValueError, 'non-increasing'),
    'fewer than two sigmas': (lambda: sd.samples(mlp, [1.]), ValueError, 'at least 2'),
    'mu >= 1': (lambda: sd.samples(mlp, [1., 0.], mu=1.0), ValueError, 'mu must lie in [0, 1)'),
    'mu < 0': (lambda: sd.samples(mlp, [1., 0.], mu=-0.1), ValueError, 'mu must lie in [0, 1)'),
    'gam <= 0': (lambda: sd.samples(mlp, [1., 0.], gam=0), ValueError, 'gam must be > 0'),
    'cond batch != xt batch': (lambda: sd.samples(mlp, [1., 0.], xt=torch.zeros(4, 2), cond=torch.zeros(3)), ValueError, 'cond has batch 3'),
    'cond batch != batchsize': (lambda: sd.samples(mlp, [1., 0.], batchsize=2, cond=torch.zeros(3)), ValueError, 'cond has batch 3'),
    'xt wrong shape': (lambda: sd.samples(mlp, [1., 0.], xt=torch.zeros(4, 3)), ValueError, 'xt must have shape'),
    'schedule N < 1': (lambda: sd.ScheduleDDPM(0), ValueError, 'N must be >= 1'),
    'sigma_min <= 0': (lambda: sd.ScheduleLogLinear(10, sigma_min=0.), ValueError, 'sigma_min must be > 0'),
    'sigma_min >= sigma_max': (lambda: sd.ScheduleLogLinear(10, sigma_min=2., sigma_max=1.), ValueError, 'sigma_min must be < sigma_max'),
    'beta outside (0, 1)': (lambda: sd.ScheduleDDPM(10, beta_end=1.2), ValueError, 'beta_end must lie in (0, 1)'),
    'betas outside (0, 1)': (lambda: sd.sigmas_from_betas(torch.tensor([0.5, 1.5])), ValueError, 'betas must lie in (0, 1)'),
    'sample_sigmas steps < 1': (lambda: sch.sample_sigmas(0), ValueError, 'steps must be >= 1'),
    'sample_sigmas too many steps': (lambda: sch.sample_sigmas(21), ValueError, 'more than the schedule has'),
    'sample_sigmas float steps': (lambda: sch.sample_sigmas(2.5), TypeError, 'steps must be an int'),
    'pairs without conditional': (lambda: first(sd.training_loop(DataLoader(pairs, batch_size=4), mlp, sch)), ValueError, 'pass conditional=True'),
    'conditional without pairs': (lambda: first(sd.training_loop(DataLoader(torch.randn(8, 2), batch_size=4), mlp, sch, conditional=True)), ValueError, 'expects the loader to yield (data, labels)'),
    'model without input_dims': (lambda: sd.samples(NoDims(), [1., 0.]), TypeError, 'has no `input_dims`'),
    'rand_input without input_dims': (lambda: NoDims().rand_input(2), TypeError, 'has no `input_dims`'),
    'empty Swissroll': (lambda: sd.Swissroll(0, 1, 0), ValueError, 'N must be >= 1'),
    'empty TreeDataset': (lambda: sd.TreeDataset(num_samples_per_path=0), ValueError, 'num_samples_per_path must be >= 1'),
    'IdealDenoiser of empty data': (lambda: sd.IdealDenoiser([]), ValueError, 'dataset is empty'),
    'IdealDenoiser wrong dimension': (lambda: sd.IdealDenoiser(torch.randn(5, 2))(torch.randn(3, 4), torch.tensor(1.)), ValueError, 'x must have shape'),
    'CFG without condition embedder': (lambda: first(sd.samples(mlp, [1., 0.], cond=torch.zeros(1, dtype=torch.long), cfg_scale=3.)), ValueError, 'needs a model with a condition embedder'),
    'epochs < 1': (lambda: sd.training_loop(DataLoader(torch.randn(8, 2)), mlp, sch, epochs=0), ValueError, 'epochs must be >= 1'),
    'resume_from missing': (lambda: sd.training_loop(DataLoader(torch.randn(8, 2)), mlp, sch, resume_from='no/such.safetensors'), FileNotFoundError, 'no checkpoint at'),
    'EMA decay >= 1': (lambda: sd.make_ema(mlp, 1.0), ValueError, 'decay must lie in [0, 1)'),
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
    proc = subprocess.run([sys.executable, '-O', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', __file__, '-k', 'misuse'],
                          capture_output=True, text=True, env=env, cwd=root)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert 'passed' in proc.stdout
