"""Two-process CPU (gloo) training where one rank is SIGKILLed: the run ends with an error within a bounded time instead
of hanging, and the checkpoint on disk is the last complete one (the main process is the only writer)."""
import os, shutil, signal, socket, subprocess, sys, textwrap, time
from pathlib import Path
import smalldiffusion as sd

ROOT = Path(__file__).resolve().parents[1]
BOUND = 90   # seconds from the death to the end of the run: torchrun notices in ~1 s, gloo's reset in ~3 s; generous

SCRIPT = textwrap.dedent('''
    import os, signal, sys, time
    from datetime import timedelta
    from pathlib import Path
    import numpy as np, torch
    from torch.utils.data import DataLoader
    from accelerate import Accelerator, InitProcessGroupKwargs
    import smalldiffusion.checkpoint as tr
    from smalldiffusion import Swissroll, TimeInputMLP, ScheduleLogLinear, training_loop, save_checkpoint
    out, victim, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    # a hang would still end: gloo's collectives give up after this long
    acc = Accelerator(cpu=True, kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(seconds=120))])
    torch.manual_seed(0)
    model = TimeInputMLP(hidden_dims=(16, 32, 16))
    loader = DataLoader(Swissroll(np.pi / 2, 5 * np.pi, 64), batch_size=16, shuffle=True)

    def die(): (out / 'died').write_text(repr(time.time())); os.kill(os.getpid(), signal.SIGKILL)
    def dying_save_file(tensors, tmp, metadata=None):    # the writer dies with half a checkpoint written
        real_save_file(tensors, tmp, metadata=metadata)
        with open(tmp, 'r+b') as f: f.truncate(os.path.getsize(tmp) // 2)
        die()
    real_save_file = tr.save_file
    for ns in training_loop(loader, model, ScheduleLogLinear(50), accelerator=acc, epochs=100):
        mine = acc.process_index == victim
        if mine and ns.step == 6 and mode == 'mid-write': tr.save_file = dying_save_file
        if ns.step and ns.step % 2 == 0: save_checkpoint(out / 'last.safetensors', ns)   # every rank calls it
        if mine and ns.step == 5 and mode == 'mid-step': die()
''')

def env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
                OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', TQDM_DISABLE='1')

def check_ended_in_time_with_last_complete_checkpoint(out: Path, returncodes, ended: float):
    assert (out / 'died').exists(), 'the victim never died'
    assert all(rc != 0 for rc in returncodes), returncodes
    assert ended - float((out / 'died').read_text()) < BOUND
    assert sd.load_checkpoint(out / 'last.safetensors')['position']['step'] == 4   # complete, and the last one

def test_writer_dies_mid_checkpoint_under_torchrun(tmp_path):
    "Rank 0, the only writer, is killed while writing the step-6 checkpoint; torchrun ends the run; step 4 stays."
    (tmp_path / 'train.py').write_text(SCRIPT)
    torchrun = shutil.which('torchrun', path=str(Path(sys.executable).parent)) or 'torchrun'
    proc = subprocess.run([torchrun, '--standalone', '--nproc_per_node', '2', str(tmp_path / 'train.py'), str(tmp_path),
                           '0', 'mid-write'], capture_output=True, text=True, env=env(), timeout=300)
    check_ended_in_time_with_last_complete_checkpoint(tmp_path, [proc.returncode], time.time())
    assert 'SIGKILL' in proc.stderr, proc.stderr[-3000:]
    assert len(list(tmp_path.glob('.last.safetensors.*.tmp'))) == 1   # the half-written temporary, never renamed

def test_survivor_fails_on_its_own(tmp_path):
    "Without torchrun's agent to stop it, the surviving rank's next collective fails (gloo: connection reset)."
    (tmp_path / 'train.py').write_text(SCRIPT)
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, str(tmp_path / 'train.py'), str(tmp_path), '1', 'mid-step'],
                              env=dict(env(), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(r),
                                       LOCAL_RANK=str(r), WORLD_SIZE='2', LOCAL_WORLD_SIZE='2'),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    try: errs = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None: p.kill()
    check_ended_in_time_with_last_complete_checkpoint(tmp_path, [p.returncode for p in procs], time.time())
    assert procs[1].returncode == -signal.SIGKILL and procs[0].returncode == 1, errs[0][-3000:]
    assert 'RuntimeError' in errs[0] and 'Connection' in errs[0], errs[0][-3000:]
