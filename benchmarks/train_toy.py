"""Toy training speed: our `training_loop` against the published smalldiffusion 0.5, alternating in one run.

The published package is installed with `pip install --target` into a temporary folder and imported under another
name, so the two never clash. Both train the README's Swissroll model (same model, data, schedule, seed); we time
steps per second over several alternating rounds and print the median ratio ours / published (higher is better).

    python benchmarks/train_toy.py [--steps 1500] [--rounds 5] [--out benchmarks/results/train_toy.json]

The result is written to --out (JSON), which the README reads.
"""
import argparse, atexit, importlib, json, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
from torch.utils.data import DataLoader

def published_smalldiffusion(version='0.5.0'):
    "Import smalldiffusion==version from a private --target install, as the module `smalldiffusion_published`."
    tmp = Path(tempfile.mkdtemp(prefix='sd-published-'))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(tmp / 'site'),
                    f'smalldiffusion=={version}'], check=True)
    shutil.copytree(tmp / 'site' / 'smalldiffusion', tmp / 'pkg' / 'smalldiffusion_published')
    sys.path.insert(0, str(tmp / 'pkg'))
    return importlib.import_module('smalldiffusion_published')

def steps_per_second(lib, steps, seed=0):
    "Train the README's Swissroll model for `steps` steps with `lib.training_loop`; returns steps/s."
    torch.manual_seed(seed)
    loader = DataLoader(lib.Swissroll(np.pi / 2, 5 * np.pi, 100), batch_size=2048)
    model = lib.TimeInputMLP(hidden_dims=(16, 128, 128, 128, 128, 16))
    schedule = lib.ScheduleLogLinear(N=200, sigma_min=0.005, sigma_max=10)
    loop = lib.training_loop(loader, model, schedule, epochs=steps)
    next(loop)                                  # setup (Accelerator, optimizer) and the first step are not timed
    start, timed = time.perf_counter(), sum(1 for _ in loop)
    return timed / (time.perf_counter() - start)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--steps', type=int, default=1500)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'train_toy.json'), help='JSON result file')
    args = p.parse_args(argv)
    if args.steps < 2 or args.rounds < 1:
        p.error('--steps must be >= 2 (the first step is not timed) and --rounds >= 1')
    import smalldiffusion as ours
    published = published_smalldiffusion()
    print(f'ours: {ours.__file__}\npublished: {published.__file__}\n'
          f'torch {torch.__version__}, threads {torch.get_num_threads()}')
    rates = {'ours': [], 'published': []}
    for r in range(args.rounds):          # alternate, so drift in machine load hits both alike
        pair = (('ours', ours), ('published', published))
        for name, lib in pair if r % 2 == 0 else pair[::-1]:
            rates[name].append(steps_per_second(lib, args.steps))
        print(f'round {r}: ours {rates["ours"][-1]:.0f} steps/s, published {rates["published"][-1]:.0f} steps/s',
              flush=True)
    ratio = np.median(np.array(rates['ours']) / np.array(rates['published']))
    print(f'median steps/s: ours {np.median(rates["ours"]):.0f}, published {np.median(rates["published"]):.0f}')
    print(f'ratio ours/published: {ratio:.3f} ({"not slower" if ratio >= 1 else f"{(1 - ratio) * 100:.1f}% slower"})')
    from smalldiffusion.fileio import atomic_write
    result = dict(ours_steps_per_s=float(np.median(rates['ours'])),
                  published_steps_per_s=float(np.median(rates['published'])),
                  ratio=float(ratio), rounds=args.rounds, steps=args.steps, torch_threads=torch.get_num_threads(),
                  hardware=f'{platform.machine()}, {torch.get_num_threads()} torch threads, no GPU'
                  if not torch.cuda.is_available() else torch.cuda.get_device_name(), rates=rates)
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=1)))
    print('wrote', args.out)
    return ratio

if __name__ == '__main__': main()
