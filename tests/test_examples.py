"""The image examples run end to end on the offline digits: a few training steps with tiny models, checkpoints that
resume exactly, a sample grid of the right size, and the digits Fréchet distance."""
import json, os, subprocess, sys
import torch
from PIL import Image
from safetensors.torch import load_file

TINY = ['--dataset', 'digits', '--epochs', '1', '--batch-size', '8', '--sample-batch-size', '4',
        '--sample-steps', '2', '--max-steps', '3']

def run(root, script, out, *args):
    "Run examples/`script` with plain python, tiny settings, writing into `out`."
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(root))
    cmd = [sys.executable, str(root / 'examples' / script), *TINY, '--out', str(out), *args]
    proc = subprocess.run(cmd, cwd=out.parent, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f'{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc

def grid_size(n, side, nrow): return (min(n, nrow) * (side + 1) + 1, -(-n // nrow) * (side + 1) + 1)

def test_fashion_mnist_unet_resumes_exactly(root, tmp_path):
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    run(root, 'fashion_mnist_unet.py', straight, '--ch', '16', '--max-steps', '4')
    run(root, 'fashion_mnist_unet.py', split, '--ch', '16', '--max-steps', '2')
    run(root, 'fashion_mnist_unet.py', split, '--ch', '16', '--max-steps', '4', '--resume')
    a, b = load_file(straight / 'last.safetensors'), load_file(split / 'last.safetensors')
    weights = [k for k in a if k.startswith('ckpt.model.') or k.startswith('ckpt.ema.')]
    assert weights and all(torch.equal(a[k], b[k]) for k in weights)
    assert json.loads((split / 'last.safetensors.json').read_text())['step'] == 4
    assert Image.open(split / 'samples.png').size == grid_size(4, 28, 8)
    assert {'model', 'ema'} <= set(json.loads((split / 'final.safetensors.json').read_text())['contents'])

def test_fashion_mnist_dit_conditional_with_fd(root, tmp_path):
    out = tmp_path / 'dit'
    run(root, 'fashion_mnist_dit.py', out, '--conditional', '--cfg-scale', '2', '--depth', '1', '--head-dim', '8',
        '--num-heads', '2', '--sample-batch-size', '20', '--fd')
    assert Image.open(out / 'samples.png').size == grid_size(20, 28, 10)
    metrics = json.loads((out / 'metrics.json').read_text())
    # 3 training steps: far from the real digits, whose own distance (the floor) is much smaller
    assert 0 <= metrics['digits_fd_floor'] < metrics['digits_fd']
    assert any(k.startswith('ckpt.model.cond_embed.') for k in load_file(out / 'final.safetensors'))

def test_cifar_unet_bf16(root, tmp_path):
    out = tmp_path / 'cifar'
    run(root, 'cifar_unet.py', out, '--ch', '16', '--mixed-precision', 'bf16')
    img = Image.open(out / 'samples.png')
    assert img.size == grid_size(4, 32, 8) and img.mode == 'RGB'
    sd = load_file(out / 'final.safetensors')
    assert sd['ckpt.model.conv_in.weight'].shape == (16, 3, 3, 3)
