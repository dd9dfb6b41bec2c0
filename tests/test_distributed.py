"""Toy training under `torchrun --nproc_per_node 2` on the CPU (gloo): both ranks end with identical weights."""
import shutil, subprocess, sys, textwrap
from pathlib import Path
import torch
from safetensors.torch import load_file

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

def test_two_process_training_keeps_ranks_identical(tmp_path):
    (tmp_path / 'train.py').write_text(SCRIPT)
    torchrun = shutil.which('torchrun', path=str(Path(sys.executable).parent)) or 'torchrun'
    proc = subprocess.run([torchrun, '--nproc_per_node', '2', '--master_port', '29531', str(tmp_path / 'train.py'), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0, w1 = (load_file(str(tmp_path / f'rank{r}.safetensors')) for r in (0, 1))
    assert w0.keys() == w1.keys()
    for k in w0: torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0)
    b0, b1 = ((tmp_path / f'rank{r}.batches').read_text() for r in (0, 1))
    assert b0 != b1, 'both ranks saw the same batches: the loader was not sharded'
    assert len(eval(b0)) == 5 * 2   # 64 points, 16 a batch, 2 ranks: 2 steps an epoch each
