"""What the image examples share besides their training loop (each example shows its own): the command-line options,
where the run checkpoints and whether it resumes, EMA sampling with a progress bar, and the outputs (final checkpoint,
sample grid, digits Fréchet distance)."""
import argparse, contextlib, json
from pathlib import Path
from tqdm import tqdm
from smalldiffusion import samples, save_checkpoint
from smalldiffusion.image import save_grid, DigitsFD
from smalldiffusion.fileio import atomic_write

def image_args(doc, *, dataset, dataset_help, epochs, batch_size, lr, ema_decay, out, save_every, sample_batch_size,
               sample_steps) -> argparse.ArgumentParser:
    "The options every image example takes, with that example's published defaults; add model options to it."
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dataset', choices=[dataset, 'digits'], default=dataset, help=dataset_help)
    p.add_argument('--data-dir', default='datasets')
    p.add_argument('--epochs', type=int, default=epochs)
    p.add_argument('--batch-size', type=int, default=batch_size)
    p.add_argument('--lr', type=float, default=lr)
    p.add_argument('--ema-decay', type=float, default=ema_decay)
    p.add_argument('--mixed-precision', choices=['no', 'fp16', 'bf16'], default='no')
    p.add_argument('--out', default=out, help='output folder')
    p.add_argument('--save-every', type=int, default=save_every, help='steps between checkpoints')
    p.add_argument('--max-steps', type=int, default=None, help='stop (with a checkpoint) after this many steps')
    p.add_argument('--resume', action=argparse.BooleanOptionalAction, default=True,
                   help='continue from OUT/last.safetensors when it exists (the default: rerunning the command of an '
                        'interrupted run continues it); --no-resume starts over and overwrites it')
    p.add_argument('--sample-batch-size', type=int, default=sample_batch_size)
    p.add_argument('--sample-steps', type=int, default=sample_steps)
    p.add_argument('--fd', action='store_true', help='digits only: report the digits Frechet distance of the samples')
    p.add_argument('--seed', type=int, default=0)
    return p

def checkpoint_paths(args, accelerator) -> tuple:
    """OUT/last.safetensors, where the training loop checkpoints, and the checkpoint to resume from: that file when
    --resume (the default) and it exists, else None. Says which."""
    ckpt = Path(args.out) / 'last.safetensors'
    resume = ckpt if args.resume and ckpt.exists() else None
    announce(accelerator, ckpt, resume)
    return ckpt, resume

@contextlib.contextmanager
def resume_hint(ckpt: Path, resume):
    "Around `training_loop(..., resume_from=resume)`: a checkpoint that does not fit the model says what to do."
    try: yield
    except ValueError as e:   # e.g. the model options changed since the checkpoint was written
        if resume is None or str(ckpt) not in str(e): raise
        raise ValueError(f'{e} (here: rerun with the options that wrote it, --no-resume, or another --out)') from e

def announce(accelerator, ckpt: Path, resume):
    "Say whether this run continues from `ckpt` or starts over (and would overwrite it)."
    if resume is None:
        if ckpt.exists(): accelerator.print(f'--no-resume: starting over; {ckpt} will be overwritten')
        return
    try: step = json.loads(ckpt.with_name(ckpt.name + '.json').read_text())['step']
    except (OSError, ValueError, KeyError): step = '?'
    accelerator.print(f'resuming from {ckpt} (step {step}); pass --no-resume to start over')

def sample(args, accelerator, ema, sigmas, **kwargs):
    "The final samples of the EMA model for `sigmas`, with a progress bar."
    *_, x0 = tqdm(samples(ema.module, sigmas, batchsize=args.sample_batch_size, accelerator=accelerator, **kwargs),
                  total=len(sigmas) - 1, desc='sampling')
    return x0

def finish(args, accelerator, model, ema, steps: int, x0, nrow=8):
    "Write OUT/final.safetensors (model + EMA, `steps` trained), OUT/samples.png and (--fd, digits) OUT/metrics.json."
    if not accelerator.is_main_process: return
    out = Path(args.out)
    save_checkpoint(out / 'final.safetensors', model=accelerator.unwrap_model(model), ema=ema, extra=dict(steps=steps))
    print('samples:', save_grid(x0, out / 'samples.png', nrow=nrow))
    if args.fd and args.dataset == 'digits':
        fd = DigitsFD()
        metrics = dict(digits_fd=fd(x0), digits_fd_floor=fd.floor(n=len(x0)), n_samples=len(x0))
        atomic_write(out / 'metrics.json', lambda tmp: Path(tmp).write_text(json.dumps(metrics, indent=1)))
        print(metrics)

ALIASES_05 = {'train_batch_size': 'batch_size'}   # smalldiffusion 0.5's main(...) keywords named otherwise here

def parse_options(parser: argparse.ArgumentParser, argv=None, **options) -> argparse.Namespace:
    """The options of `parser` from the command-line list `argv` (None: the defaults), then the keyword `options`,
    named as the options are (`epochs=`, `dataset=`, `max_steps=`, ...) or as 0.5's `main(train_batch_size=...)`."""
    if isinstance(argv, str) or not (argv is None or all(isinstance(a, str) for a in argv)):
        raise TypeError(f'argv must be a list of command-line strings or None, got {argv!r}: '
                        'pass settings as keywords, e.g. main(epochs=10, train_batch_size=256)')
    args = parser.parse_args([] if argv is None else list(argv))
    for name, value in options.items():
        dest = ALIASES_05.get(name, name)
        if dest not in vars(args):
            raise TypeError(f'main() got an unexpected keyword argument {name!r}; it takes '
                            f'{", ".join(sorted([*vars(args), *ALIASES_05]))}')
        setattr(args, dest, value)
    return args
