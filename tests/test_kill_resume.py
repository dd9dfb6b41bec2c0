"""A training run killed with SIGKILL (mid-step, mid-checkpoint-write, or at whatever moment the kill lands) resumes
from its last complete checkpoint and ends with exactly the weights, EMA and losses of a run that was never
interrupted."""
import os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
import torch
from safetensors.torch import load_file
import smalldiffusion as sd

ROOT = Path(__file__).resolve().parents[1]
STEPS, SAVE_EVERY = 18, 4     # 40 labelled points, batches of 16: 3 steps an epoch, 6 epochs

SCRIPT = textwrap.dedent('''
    import os, signal, sys, time
    from pathlib import Path
    import torch
    from torch.utils.data import DataLoader
    from safetensors.torch import save_file
    import smalldiffusion.checkpoint as tr
    from smalldiffusion import TreeDataset, ConditionalMLP, ScheduleLogLinear, training_loop, make_ema, save_checkpoint
    out, mode, kill_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1); torch.manual_seed(1)
    ckpt = out / 'last.safetensors'
    # shuffling and label dropout: every RNG matters
    loader = DataLoader(TreeDataset(2, 2, 10), batch_size=16, shuffle=True)
    model = ConditionalMLP(num_classes=4, hidden_dims=(16, 16)); ema = make_ema(model, 0.9)

    def dying_save_file(tensors, tmp, metadata=None):   # the kill lands with half the checkpoint on disk
        real_save_file(tensors, tmp, metadata=metadata)
        with open(tmp, 'r+b') as f: f.truncate(os.path.getsize(tmp) // 2); f.flush(); os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    real_save_file = tr.save_file

    with open(out / 'losses.txt', 'a') as log:
        for ns in training_loop(loader, model, ScheduleLogLinear(20), epochs=6, conditional=True, ema=ema,
                                resume_from=ckpt if ckpt.exists() else None):
            if ns.step == kill_at and mode == 'mid-step':
                ns.loss.backward()                          # gradients computed, the update not yet made
                os.kill(os.getpid(), signal.SIGKILL)
            if ns.step == kill_at and mode == 'mid-write': tr.save_file = dying_save_file
            if ns.step and ns.step % {save_every} == 0: save_checkpoint(ckpt, ns)
            log.write(f'{{ns.step}} {{ns.loss.item()!r}}\\n'); log.flush()
            if mode == 'slow' and ns.step >= kill_at: time.sleep(1.0)   # a window of seconds for the parent's kill
    save_file({{**{{'model.' + k: v for k, v in model.state_dict().items()}},
               **{{'ema.' + k: v for k, v in ema.state_dict().items()}}}}, str(out / 'final.safetensors'))
''').format(save_every=SAVE_EVERY)

def run(out: Path, mode='none', kill_at=-1, wait=True):
    out.mkdir(exist_ok=True); (out / 'train.py').write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', TQDM_DISABLE='1')
    cmd = [sys.executable, str(out / 'train.py'), str(out), mode, str(kill_at)]
    if not wait: return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)

def losses(out: Path) -> dict:
    "Step -> loss; a step redone after a resume must log the same loss again."
    seen = {}
    for line in (out / 'losses.txt').read_text().splitlines():
        step, loss = line.split(); step, loss = int(step), float(loss)
        assert seen.setdefault(step, loss) == loss, \
            f'step {step} gave loss {loss} after the resume, {seen[step]} before'
    return seen

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp('uninterrupted')
    proc = run(out); assert proc.returncode == 0, proc.stderr[-3000:]
    return losses(out), load_file(str(out / 'final.safetensors'))

def check_resumed(out: Path, reference, killed):
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-3000:])
    assert not (out / 'final.safetensors').exists()
    proc = run(out)                                   # the same command again: continues from last.safetensors
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref_losses, ref_state = reference
    assert losses(out) == ref_losses                  # exactly: same ops, same order, one thread
    state = load_file(str(out / 'final.safetensors'))
    assert state.keys() == ref_state.keys()
    for k in state: assert torch.equal(state[k], ref_state[k]), k

def test_sigkill_mid_step(tmp_path, reference):
    killed = run(tmp_path, 'mid-step', kill_at=10)
    assert sd.load_checkpoint(tmp_path / 'last.safetensors')['position']['step'] == 8
    check_resumed(tmp_path, reference, killed)

def test_sigkill_mid_checkpoint_write(tmp_path, reference):
    killed = run(tmp_path, 'mid-write', kill_at=12)
    leftovers = list(tmp_path.glob('.last.safetensors.*.tmp'))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0, 'the kill did not land mid-write'
    assert sd.load_checkpoint(tmp_path / 'last.safetensors')['position']['step'] == 8   # the last complete one
    check_resumed(tmp_path, reference, killed)
    assert not list(tmp_path.glob('.last.safetensors.*.tmp')), 'the half-written temporary was left behind'

def test_sigkill_from_outside_at_any_moment(tmp_path, reference):
    proc = run(tmp_path, 'slow', kill_at=9, wait=False)
    log, deadline = tmp_path / 'losses.txt', time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 11: break
        time.sleep(0.05)
    assert proc.poll() is None, 'the run ended before it could be killed: ' + proc.stderr.read()[-3000:]
    proc.kill(); _, err = proc.communicate(timeout=60)
    killed = subprocess.CompletedProcess(proc.args, proc.returncode, '', err)
    assert sd.load_checkpoint(tmp_path / 'last.safetensors')['position']['step'] in (8, 12)
    check_resumed(tmp_path, reference, killed)
