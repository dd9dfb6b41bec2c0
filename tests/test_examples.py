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

def run_python(root, code, cwd):
    "Run `code` with the examples folder on the path, as a 0.5 user's script beside the examples would."
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join([str(root / 'examples'), str(root)]))
    proc = subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f'failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc.stdout

def test_05_python_entry_points(root, tmp_path):
    "0.5's examples were called as main(train_batch_size=..., epochs=..., sample_batch_size=...); they still are."
    out = tmp_path / 'unet'
    stdout = run_python(root, f'''
import fashion_mnist_unet, cifar_unet, fashion_mnist_dit
fashion_mnist_unet.main(train_batch_size=8, epochs=1, sample_batch_size=4, dataset='digits', ch=16, max_steps=2,
                        sample_steps=2, out={str(out)!r})
for m in (fashion_mnist_unet, cifar_unet, fashion_mnist_dit):
    try: m.main(train_batch_sise=8)
    except TypeError as e: assert 'train_batch_sise' in str(e) and 'train_batch_size' in str(e), e
    else: raise SystemExit('a misspelt keyword was accepted')
    try: m.main('--epochs 3')
    except TypeError as e: assert 'argv' in str(e), e
    else: raise SystemExit('a string argv was accepted')
print('ok')
''', tmp_path)
    assert stdout.split()[-1] == 'ok'
    assert json.loads((out / 'last.safetensors.json').read_text())['step'] == 2   # max_steps reached the loop
    assert Image.open(out / 'samples.png').size == grid_size(4, 28, 8)             # sample_batch_size reached sampling

def test_05_diffusers_wrapper_import(root, tmp_path):
    "`from diffusers_wrapper import ModelLatentDiffusion`, from the examples folder, gives the package's wrapper."
    stdout = run_python(root, '''
from diffusers_wrapper import ModelLatentDiffusion
import smalldiffusion.latent_diffusion as ld
assert ModelLatentDiffusion is ld.ModelLatentDiffusion
print('ok')
''', tmp_path)
    assert stdout.split()[-1] == 'ok'
