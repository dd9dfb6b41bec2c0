"""Broken checkpoint files are refused by `training_loop(resume_from=...)` and `load_checkpoint` with an error naming
the file and what is wrong, and nothing is loaded; loading never unpickles (safetensors and JSON only)."""
import json, pickle, re
from pathlib import Path
import pytest
import torch
from torch.utils.data import DataLoader
from safetensors.torch import save_file, safe_open
import smalldiffusion as sd

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture
def ckpt(tmp_path):
    "A real checkpoint of a few toy steps, with optimizer, EMA and the loop position."
    torch.manual_seed(0)
    model = sd.TimeInputMLP(hidden_dims=(8, 8)); ema = sd.make_ema(model, 0.9)
    loader = DataLoader(torch.randn(32, 2), batch_size=8)
    for ns in sd.training_loop(loader, model, sd.ScheduleLogLinear(20), epochs=2, ema=ema):
        if ns.step == 3: sd.save_checkpoint(tmp_path / 'last.safetensors', ns); break
    return tmp_path / 'last.safetensors'

def resume(path, hidden_dims=(8, 8)):
    "Start a resumed run; returns the model so that a test can see it was not touched."
    torch.manual_seed(1)
    model = sd.TimeInputMLP(hidden_dims=hidden_dims)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as info:
        sd.training_loop(DataLoader(torch.randn(32, 2), batch_size=8), model, sd.ScheduleLogLinear(20), epochs=2,
                         ema=sd.make_ema(model), resume_from=path)
    for k, v in model.state_dict().items(): assert torch.equal(v, before[k]), f'{k} changed: loaded partially'
    assert str(path) in str(info.value)
    return str(info.value)

@pytest.mark.parametrize('keep', [0.0, 0.001, 0.5, 0.999])
def test_truncated(ckpt, keep):
    data = ckpt.read_bytes(); ckpt.write_bytes(data[:int(len(data) * keep)])
    assert 'is truncated or corrupted' in resume(ckpt)

def test_changed_tensor_byte(ckpt):
    data = bytearray(ckpt.read_bytes()); data[-5] ^= 0x01     # the tensors are at the end, after the header
    ckpt.write_bytes(bytes(data))
    assert 'do not match the checksum' in resume(ckpt)

def test_garbage_and_empty_header(ckpt):
    ckpt.write_bytes(b'\x00' * 64)
    assert 'is truncated or corrupted' in resume(ckpt)
    save_file({'w': torch.zeros(1)}, str(ckpt), metadata={'smalldiffusion': '{not json'})
    assert 'header is unreadable' in resume(ckpt)

def test_header_naming_a_missing_tensor(ckpt):
    with safe_open(str(ckpt), framework='pt') as f:
        meta, tensors = json.loads(f.metadata()['smalldiffusion']), {k: f.get_tensor(k) for k in f.keys()}
    dropped = sorted(tensors)[0]; del tensors[dropped]; del meta['sha256']   # a consistent file, short of a tensor
    save_file(tensors, str(ckpt), metadata={'smalldiffusion': json.dumps(meta)})
    message = resume(ckpt)
    assert 'names tensor' in message and dropped in message

def test_another_configuration_lists_what_differs(ckpt):
    message = resume(ckpt, hidden_dims=(8, 16, 8))
    assert 'written for another configuration, nothing was loaded' in message
    assert 'model: missing keys net.6.weight, net.6.bias' in message
    assert 'net.2.weight (8, 8) in the file, (16, 8) in the model' in message
    assert 'ema: ' in message

def test_loading_never_unpickles(ckpt, monkeypatch):
    def refuse(*a, **k): raise AssertionError('unpickling while loading a checkpoint')
    monkeypatch.setattr(pickle, 'loads', refuse); monkeypatch.setattr(pickle, 'load', refuse)
    monkeypatch.setattr(torch, 'load', refuse)
    model = sd.TimeInputMLP(hidden_dims=(8, 8))
    assert sd.load_checkpoint(ckpt, model, ema=sd.make_ema(model))['position']['step'] == 3

def test_package_has_no_pickle_loading():
    pattern = re.compile(r'torch\.load\(|pickle\.load|allow_pickle\s*=\s*True|np\.load\(')
    hits = [f'{p.name}:{i}' for p in (ROOT / 'smalldiffusion').glob('*.py') if p.name != '_modidx.py'
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits
