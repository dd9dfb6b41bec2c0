"""The latent DiT example end to end, offline: a tiny latent dataset (the digits through a tiny randomly initialised
AutoencoderKL, written with `save_to_disk`), a tiny DiT trained a few steps, resumed exactly, sampled with guidance,
decoded and saved as a grid; then write_samples.py writes PNGs in batches and resumes."""
import json, os, subprocess, sys
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

datasets = pytest.importorskip('datasets')
diffusers = pytest.importorskip('diffusers')

SIDE, LATENT = 16, 8      # 16x16 RGB digits -> 4x8x8 latents (two encoder blocks: one downsampling)
TINY = ['--in-dim', str(LATENT), '--patch-size', '2', '--depth', '1', '--head-dim', '8', '--num-heads', '2',
        '--num-classes', '10', '--batch-size', '8', '--num-workers', '0', '--save-every', '2',
        '--sample-batch-size', '4', '--sample-steps', '3', '--epochs', '5']

@pytest.fixture(scope='module')
def latents(tmp_path_factory):
    "(dataset folder, vae folder): the digits encoded by a tiny random AutoencoderKL, saved as the example expects."
    from diffusers import AutoencoderKL
    from smalldiffusion.image import Digits
    root = tmp_path_factory.mktemp('latents')
    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=('DownEncoderBlock2D',) * 2,
                        up_block_types=('UpDecoderBlock2D',) * 2, block_out_channels=(8, 8), layers_per_block=1,
                        latent_channels=4, norm_num_groups=4, sample_size=SIDE).eval()
    vae.save_pretrained(root / 'vae')
    digits = Digits('train', size=SIDE, channels=3, labels=True)
    x, y = digits.images[:64], digits.targets[:64]
    with torch.no_grad():
        mean, mean_flip = vae.encode(x).latent_dist.mean, vae.encode(x.flip(-1)).latent_dist.mean
    assert mean.shape == (64, 4, LATENT, LATENT)
    datasets.Dataset.from_dict({'latent_mean': mean.numpy(), 'latent_mean_flip': mean_flip.numpy(),
                                'label': y.numpy()}).save_to_disk(str(root / 'ds'))
    return root / 'ds', root / 'vae'

def run(root, script, *args):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=str(root), TQDM_DISABLE='1')
    proc = subprocess.run([sys.executable, str(root / 'examples' / script), *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f'{script} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}'
    return proc

def grid_size(n, side, nrow): return (min(n, nrow) * (side + 1) + 1, -(-n // nrow) * (side + 1) + 1)

def test_train_resume_sample_decode_and_write_pngs(root, tmp_path, latents):
    ds, vae = latents
    data = ['--dataset', str(ds), '--vae', str(vae), *TINY]
    straight, split = tmp_path / 'straight', tmp_path / 'split'
    run(root, 'imagenet_dit.py', *data, '--out', str(straight), '--max-steps', '4')
    run(root, 'imagenet_dit.py', *data, '--out', str(split), '--max-steps', '2')
    run(root, 'imagenet_dit.py', *data, '--out', str(split), '--max-steps', '4', '--resume')
    a, b = load_file(straight / 'last.safetensors'), load_file(split / 'last.safetensors')
    weights = [k for k in a if k.startswith('ckpt.model.') or k.startswith('ckpt.ema.')]
    assert weights and all(torch.equal(a[k], b[k]) for k in weights)        # resuming replays the same 4 steps
    assert json.loads((split / 'last.safetensors.json').read_text())['step'] == 4
    final = load_file(split / 'final.safetensors')
    assert final['ckpt.model.cond_embed.embeddings.weight'].shape == (11, 16)  # 10 classes + the null label, D = 16
    img = Image.open(split / 'samples.png')
    assert img.size == grid_size(4, SIDE, 8) and img.mode == 'RGB'           # decoded: 16x16 RGB, not 8x8 latents
    assert json.loads((split / 'config.json').read_text())['example'] == 'imagenet_dit'

    pngs = tmp_path / 'pngs'
    ws = ['--run', str(split), '--out', str(pngs), '--batch-size', '4', '--steps', '2']
    run(root, 'write_samples.py', *ws, '--n', '8')
    names = sorted(p.name for p in pngs.glob('*.png'))
    assert names == [f'{i:06d}.png' for i in range(8)]
    assert all(Image.open(pngs / n).size == (SIDE, SIDE) for n in names)
    first = (pngs / '000001.png').read_bytes()
    (pngs / '000001.png').unlink()
    stamps = [(pngs / f'00000{i}.png').stat().st_mtime_ns for i in (0, 5)]
    run(root, 'write_samples.py', *ws, '--n', '10')                          # redo batch 0, keep batch 1, add batch 2
    assert sorted(p.name for p in pngs.glob('*.png')) == [f'{i:06d}.png' for i in range(10)]
    assert (pngs / '000001.png').read_bytes() == first                    # a batch's noise depends only on its index
    assert (pngs / '000000.png').stat().st_mtime_ns != stamps[0]
    assert (pngs / '000005.png').stat().st_mtime_ns == stamps[1]
    proc = subprocess.run([sys.executable, str(root / 'examples' / 'write_samples.py'), *ws[:-2],
                           '--steps', '3', '--n', '10'],
                          env=dict(os.environ, PYTHONPATH=str(root)), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and 'other settings' in proc.stderr          # another sampler config: refused
