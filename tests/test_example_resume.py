"""The image examples continue an interrupted run by default: a run killed with SIGKILL right after a checkpoint,
restarted with the same command, says it resumes and ends with the weights of a run that was never killed; a checkpoint
of another model is refused, and --no-resume starts over."""
import os, signal, subprocess, sys
import torch
from safetensors.torch import load_file

TINY = ['--dataset', 'digits', '--epochs', '1', '--batch-size', '8', '--sample-batch-size', '4', '--sample-steps', '2',
        '--ch', '16', '--save-every', '2', '--max-steps', '6']

# runs the example, but SIGKILLs it as soon as its step-4 checkpoint is on disk
KILLER = '''
import os, runpy, signal, sys
import smalldiffusion
real = smalldiffusion.save_checkpoint
def save_then_die(path, ns=None, **kw):
    real(path, ns, **kw)
    if ns is not None and ns.step == 4: os.kill(os.getpid(), signal.SIGKILL)
smalldiffusion.save_checkpoint = save_then_die
script = sys.argv[1]; sys.argv = sys.argv[1:]; sys.path.insert(0, os.path.dirname(script))
runpy.run_path(script, run_name='__main__')
'''

def run(root, out, *prefix, extra=()):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(root), TQDM_DISABLE='1')
    cmd = [sys.executable, *prefix, str(root / 'examples' / 'fashion_mnist_unet.py'), *TINY, *extra, '--out', str(out)]
    return subprocess.run(cmd, cwd=out.parent, env=env, capture_output=True, text=True, timeout=300)

def test_killed_example_resumes_with_the_same_command(root, tmp_path):
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    proc = run(root, straight); assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'resuming' not in proc.stdout
    proc = run(root, killed, '-c', KILLER)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not (killed / 'final.safetensors').exists()
    proc = run(root, killed)                                        # the same command as the straight run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'resuming from {killed / "last.safetensors"} (step 4)' in proc.stdout, proc.stdout[-2000:]
    a, b = load_file(straight / 'final.safetensors'), load_file(killed / 'final.safetensors')
    assert a.keys() == b.keys() and any(k.startswith('ckpt.ema.') for k in a)
    for k in a: assert torch.equal(a[k], b[k]), k
    proc = run(root, killed, extra=['--ch', '8'])                    # another model in the same folder: refused
    assert proc.returncode != 0 and 'was written for another configuration' in proc.stderr, proc.stderr[-3000:]
    assert 'shape mismatches' in proc.stderr and '--no-resume' in proc.stderr
    proc = run(root, killed, extra=['--ch', '8', '--max-steps', '1', '--no-resume'])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'starting over' in proc.stdout
    assert load_file(killed / 'last.safetensors')['ckpt.model.conv_in.weight'].shape[0] == 8
