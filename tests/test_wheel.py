"""The built wheel installs into a clean virtual environment and runs the README's toy example from there;
the sdist carries the same package data."""
import subprocess, sys, sysconfig, tarfile, textwrap, venv, zipfile
from pathlib import Path

def test_wheel_installs_and_runs_toy_example(root, tmp_path):
    dist = tmp_path / 'dist'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(dist), str(root)], check=True, capture_output=True)
    wheel, = dist.glob('smalldiffusion-*.whl')
    assert 'smalldiffusion/datasets/DatasaurusDozen.tsv' in zipfile.ZipFile(wheel).namelist()
    env_dir = tmp_path / 'venv'
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / 'bin' / 'python'
    # the heavy dependencies (torch, accelerate, ...) come from the test environment, standing in for system
    # site-packages
    site = Path(subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / 'deps_from_test_env.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    subprocess.run([str(py), '-m', 'pip', 'install', '-q', '--no-deps', '--no-index', str(wheel)],
                   check=True, capture_output=True)
    script = textwrap.dedent('''
        import numpy as np, torch, smalldiffusion
        from torch.utils.data import DataLoader
        from smalldiffusion import Swissroll, TimeInputMLP, ScheduleLogLinear, training_loop, samples
        print(smalldiffusion.__file__)
        dataset  = Swissroll(np.pi/2, 5*np.pi, 100)
        loader   = DataLoader(dataset, batch_size=2048)
        model    = TimeInputMLP(hidden_dims=(16,128,128,128,128,16))
        schedule = ScheduleLogLinear(N=200, sigma_min=0.005, sigma_max=10)
        trainer  = training_loop(loader, model, schedule, epochs=200)
        losses   = [ns.loss.item() for ns in trainer]
        *xt, x0  = samples(model, schedule.sample_sigmas(20), gam=2)
        assert len(losses) == 200 and len(xt) == 19 and x0.shape == (1, 2) and torch.isfinite(x0).all()
        from smalldiffusion import DatasaurusDozen        # package data, read through importlib.resources
        assert len(DatasaurusDozen(dataset='dino')) == 142 * 15 and len(DatasaurusDozen(None, 'star').points) == 142
        ns = {}; exec('from smalldiffusion import *', ns)
        assert 'DatasaurusDozen' in ns and 'samples_heun' in ns and 'training_loop' in ns
        print('ok')
    ''')
    out = subprocess.run([str(py), '-c', script], check=True, capture_output=True, text=True,
                         cwd=tmp_path).stdout.split()
    assert out[-1] == 'ok'
    assert Path(out[0]).is_relative_to(env_dir), f'imported {out[0]}, not the installed wheel'

def test_sdist_carries_the_package_data(root, tmp_path):
    subprocess.run([sys.executable, '-m', 'build', '--sdist', '--no-isolation', '-o', str(tmp_path), str(root)],
                   check=True, capture_output=True)
    sdist, = tmp_path.glob('smalldiffusion-*.tar.gz')
    names = tarfile.open(sdist).getnames()
    assert any(n.endswith('smalldiffusion/datasets/DatasaurusDozen.tsv') for n in names), names
