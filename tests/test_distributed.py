"""Toy training under `torchrun --nproc_per_node 2` on the CPU (gloo): both ranks end with identical weights; only the
main process writes checkpoints; every rank resumes from the same file to identical weights."""
import os, shutil, subprocess, sys, textwrap
from pathlib import Path
import torch
from safetensors.torch import load_file
import smalldiffusion as sd

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import sys, numpy as np, torch
    from pathlib import Path
    from torch.utils.data import DataLoader
    from accelerate import Accelerator
    from safetensors.torch import save_file
    from smalldiffusion import Swissroll, TimeInputMLP, ScheduleLogLinear, training_loop
    out = Path(sys.argv[1])
    acc = Accelerator(cpu=True)
    assert acc.num_processes == 2, acc.num_processes
    torch.manual_seed(acc.process_index)      # different seeds: DDP must still keep the weights in sync
    model = TimeInputMLP(hidden_dims=(16, 32, 16))
    loader = DataLoader(Swissroll(np.pi / 2, 5 * np.pi, 64), batch_size=16, shuffle=True)
    seen = []
    for ns in training_loop(loader, model, ScheduleLogLinear(50), accelerator=acc, epochs=5):
        seen.append(ns.x0.sum().item())
    state = {k: v.contiguous() for k, v in acc.unwrap_model(ns.model).state_dict().items()}
    save_file(state, str(out / f'rank{acc.process_index}.safetensors'))
    (out / f'rank{acc.process_index}.batches').write_text(repr(seen))
''')

# trains 10 steps from seed 0 on every rank (as `accelerate.utils.set_seed` does), checkpointing at step 4 from every
# rank's call, or resumes from that checkpoint; each rank dumps its weights at the first step it sees and at the end
RESUME_SCRIPT = textwrap.dedent('''
    import sys, numpy as np, torch
    from pathlib import Path
    from torch.utils.data import DataLoader
    from accelerate import Accelerator
    from safetensors.torch import save_file
    from smalldiffusion import Swissroll, TimeInputMLP, ScheduleLogLinear, training_loop, make_ema, save_checkpoint
    out, ckpt, resume = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == 'resume'
    acc = Accelerator(cpu=True); r = acc.process_index
    torch.manual_seed(0)
    model = TimeInputMLP(hidden_dims=(16, 32, 16)); ema = make_ema(model, 0.9)
    loader = DataLoader(Swissroll(np.pi / 2, 5 * np.pi, 64), batch_size=16, shuffle=True)
    def dump(name, ns):
        state = {**{'model.' + k: v for k, v in acc.unwrap_model(ns.model).state_dict().items()},
                 **{'ema.' + k: v for k, v in ns.ema.state_dict().items()}}
        save_file({k: v.contiguous() for k, v in state.items()}, str(out / f'{name}.rank{r}.safetensors'))
    first, losses = True, []
    for ns in training_loop(loader, model, ScheduleLogLinear(50), accelerator=acc, epochs=5, ema=ema,
                            resume_from=ckpt if resume else None):
        if first: dump('first', ns); first = False
        if not resume and ns.step == 4:
            save_checkpoint(ckpt, ns)                                  # every rank calls it; rank 0 writes it
            save_checkpoint(out / f'written_by_rank{r}.safetensors', ns)
        losses.append(ns.loss.item())
    dump('final', ns)
    (out / f'losses.rank{r}').write_text(repr(losses))
''')

def torchrun(*args):
    exe = shutil.which('torchrun', path=str(Path(sys.executable).parent)) or 'torchrun'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', TQDM_DISABLE='1')
    proc = subprocess.run([exe, '--standalone', '--nproc_per_node', '2', *map(str, args)],   # --standalone: a free port
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

def assert_same(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)

def test_two_process_training_keeps_ranks_identical(tmp_path):
    (tmp_path / 'train.py').write_text(SCRIPT)
    torchrun(tmp_path / 'train.py', tmp_path)
    w0, w1 = (load_file(str(tmp_path / f'rank{r}.safetensors')) for r in (0, 1))
    assert_same(w0, w1)
    b0, b1 = ((tmp_path / f'rank{r}.batches').read_text() for r in (0, 1))
    assert b0 != b1, 'both ranks saw the same batches: the loader was not sharded'
    assert len(eval(b0)) == 5 * 2   # 64 points, 16 a batch, 2 ranks: 2 steps an epoch each

def test_main_process_writes_and_every_rank_resumes_from_the_same_file(tmp_path):
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    straight.mkdir(); resumed.mkdir(); ckpt = tmp_path / 'ckpt' / 'last.safetensors'
    (tmp_path / 'train.py').write_text(RESUME_SCRIPT)
    torchrun(tmp_path / 'train.py', straight, ckpt, 'straight')
    assert (straight / 'written_by_rank0.safetensors').exists()
    assert not (straight / 'written_by_rank1.safetensors').exists()
    torchrun(tmp_path / 'train.py', resumed, ckpt, 'resume')
    saved = sd.load_checkpoint(ckpt)
    assert saved['position']['step'] == 4
    first = [load_file(str(resumed / f'first.rank{r}.safetensors')) for r in (0, 1)]
    assert_same(first[0], first[1])                                   # the same file gave every rank the same weights
    assert_same({k[len('model.'):]: v for k, v in first[0].items() if k.startswith('model.')}, saved['model'])
    for r in (0, 1):                                                 # and the run continues as if never stopped
        assert_same(load_file(str(resumed / f'final.rank{r}.safetensors')),
                    load_file(str(straight / f'final.rank{r}.safetensors')))
        assert eval((resumed / f'losses.rank{r}').read_text()) == eval((straight / f'losses.rank{r}').read_text())[4:]
