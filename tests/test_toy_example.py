"""The README's ten-line toy example, run exactly as printed: the loss goes down and samples land on the curve."""
import re
import numpy as np
import torch

def readme_example(root) -> str:
    "The README's Python block that trains the toy model."
    blocks = re.findall(r'```python\n(.*?)```', (root / 'README.md').read_text(), flags=re.S)
    matches = [b for b in blocks if 'training_loop(' in b and 'samples(' in b]
    assert matches, 'README.md has no python block with the toy example'
    return matches[0]

def test_readme_example_trains_and_samples(root):
    torch.manual_seed(0)
    ns = {}
    exec(readme_example(root), ns)
    losses, x0 = ns['losses'], ns['x0']
    assert len(losses) == 15000
    assert np.mean(losses[-1000:]) < 0.8 * np.mean(losses[:100]), (np.mean(losses[:100]), np.mean(losses[-1000:]))
    from smalldiffusion import Swissroll
    curve = Swissroll(np.pi / 2, 5 * np.pi, 2000).vals
    dist = torch.cdist(x0, curve).min(1).values
    assert x0.shape == (1000, 2)
    # uniform points in the data's bounding box have median distance ~0.15; a trained model ~0.02
    assert dist.median() < 0.05, f'median distance to the Swissroll {dist.median():.3f}'

def test_demo_script_writes_png(root, tmp_path):
    "`make demo`'s script, shortened: it writes a PNG with the data and the three samplers."
    import runpy, matplotlib.image
    demo = runpy.run_path(str(root / 'examples' / 'swissroll_demo.py'))
    out = demo['main'](['--out', str(tmp_path / 'demo' / 'swissroll.png'),
                        '--epochs', '50', '--n', '50', '--steps', '5'])
    img = matplotlib.image.imread(out)
    assert img.shape[1] > 3 * img.shape[0]          # four panels side by side
    assert [p.name for p in out.parent.iterdir()] == ['swissroll.png']   # no temporary file left behind
