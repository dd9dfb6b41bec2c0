"""Training throughput of the FashionMNIST U-Net in fp32 vs bf16 mixed precision (+ channels_last, + torch.compile).

One run, same model initialisation and the same random batches for every variant: prints steps/s, the speed-up over
fp32 (target >= 1.5x for bf16 on a recent GPU) and the mean loss of the last steps, which must stay close to fp32's.
Data are random tensors of FashionMNIST's shape (no download).

    python benchmarks/gpu_unet_amp.py                  # on a GPU: the published config, batch 1024
    python benchmarks/gpu_unet_amp.py --smoke          # on CPU: tiny sizes, checks that every variant runs
"""
import argparse, contextlib, json, time
import torch
from smalldiffusion import Unet, Scaled, ScheduleLogLinear

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--smoke', action='store_true', help='tiny sizes on CPU (or whatever device is there)')
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--ch', type=int, default=64)
    p.add_argument('--warmup', type=int, default=10, help='untimed steps first (compilation happens here)')
    p.add_argument('--steps', type=int, default=50, help='timed steps per variant')
    p.add_argument('--lr', type=float, default=7e-4)
    p.add_argument('--no-compile', action='store_true', help='skip the torch.compile variant')
    p.add_argument('--json', default=None, help='also write the results to this file')
    args = p.parse_args(argv)
    if args.smoke: args.batch_size, args.ch, args.warmup, args.steps = 8, 16, 2, 3
    return args

VARIANTS = [  # name, autocast dtype, channels_last, compile
    ('fp32', None, False, False),
    ('bf16 autocast', torch.bfloat16, False, False),
    ('bf16 + channels_last', torch.bfloat16, True, False),
    ('bf16 + channels_last + compile', torch.bfloat16, True, True),
]

def run_variant(args, device, batches, dtype, channels_last, compile):
    "Train a freshly initialised U-Net on `batches`; returns (steps/s over the timed steps, losses)."
    torch.manual_seed(0)
    model = Scaled(Unet)(28, 1, 1, ch=args.ch, ch_mult=(1, 1, 2), attn_resolutions=(14,)).to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    net = torch.compile(model) if compile else model
    get_loss = type(model).get_loss
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    losses = []
    for i, (x0, sigma, eps) in enumerate(batches):
        if i == args.warmup: sync(); start = time.perf_counter()
        x0, eps = x0.to(memory_format=fmt), eps.to(memory_format=fmt)
        with autocast: loss = get_loss(net, x0, sigma, eps)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        losses.append(loss.detach())
    sync()
    return args.steps / (time.perf_counter() - start), [l.item() for l in losses]

def main(argv=None):
    args = parse_args(argv)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    card = torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'
    print(f'device: {card}; torch {torch.__version__}; batch {args.batch_size}, ch {args.ch}; '
          f'cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, matmul tf32={torch.backends.cuda.matmul.allow_tf32}')
    schedule, g = ScheduleLogLinear(sigma_min=0.01, sigma_max=20, N=800), torch.Generator().manual_seed(0)
    batches = []
    for _ in range(args.warmup + args.steps):  # the same random FashionMNIST-shaped data for every variant
        x0 = torch.rand(args.batch_size, 1, 28, 28, generator=g) * 2 - 1
        sigma = schedule[torch.randint(len(schedule), (args.batch_size,), generator=g)].view(-1, 1, 1, 1)
        batches.append((x0.to(device), sigma.to(device), torch.randn(x0.shape, generator=g).to(device)))
    results = {}
    for name, dtype, channels_last, compile in VARIANTS:
        if compile and args.no_compile: continue
        sps, losses = run_variant(args, device, batches, dtype, channels_last, compile)
        tail = sum(losses[-5:]) / len(losses[-5:])
        results[name] = dict(steps_per_s=sps, images_per_s=sps * args.batch_size, final_loss=tail,
                             first_loss=losses[0])
        base = results['fp32']
        print(f'{name:32s} {sps:8.2f} steps/s  {sps / base["steps_per_s"]:5.2f}x fp32   '
              f'loss {losses[0]:.4f} -> {tail:.4f} (fp32 {base["final_loss"]:.4f})', flush=True)
    finite = all(torch.isfinite(torch.tensor(r['final_loss'])) for r in results.values())
    close = all(abs(r['final_loss'] - results['fp32']['final_loss']) <= 0.1 * results['fp32']['final_loss'] + 0.01
                for r in results.values())
    best = max(results, key=lambda k: results[k]['steps_per_s'])
    print(f'best: {best}, {results[best]["steps_per_s"] / results["fp32"]["steps_per_s"]:.2f}x fp32; '
          f'losses {"finite and within 10% of fp32" if finite and close else "DIVERGE from fp32"}')
    if args.json:
        with open(args.json, 'w') as f: json.dump(dict(device=card, args=vars(args), results=results), f, indent=1)
    return results

if __name__ == '__main__':
    main()
