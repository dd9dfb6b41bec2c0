"""Markdown tables of the sampler benchmark, read from the JSON that `benchmarks/samplers.py` (`make bench`) wrote.

    python benchmarks/tables.py [benchmarks/results/samplers.json]

Prints the two headlines (ours / best peer on the trailing and Karras grids only, and on every grid), each with the
median and the RMS error per problem and budget, then the stochastic and the overhead ratios, ready to paste.
"""
import json, math, sys
from pathlib import Path

DEFAULT = Path(__file__).parent / 'results' / 'samplers.json'

def headline_table(res: dict, grids: str) -> str:
    "ours / best peer, one row per problem and statistic, one column per budget."
    budgets = res['budgets']
    lines = ['| problem | error | ' + ' | '.join(f'NFE {b}' for b in budgets) + ' |',
             '|---|---|' + '---|' * len(budgets)]
    for p in res['problems']:
        name = p['name'] + (' (tuned here)' if p['tuned_here'] else '')
        for stat in ('median', 'rms'):
            cells = {h['budget']: h for h in p['headline'] if h['grids'] == grids and h['stat'] == stat}
            lines.append(f"| {name} | {stat} | " + ' | '.join(f"{cells[b]['ratio']:.2f}" for b in budgets) + ' |')
    return '\n'.join(lines)

def winners_table(res: dict, grids: str) -> str:
    "Which sampler and grid was best on each side (median error)."
    budgets = res['budgets']
    lines = ['| problem | side | ' + ' | '.join(f'NFE {b}' for b in budgets) + ' |',
             '|---|---|' + '---|' * len(budgets)]
    for p in res['problems']:
        cells = {h['budget']: h for h in p['headline'] if h['grids'] == grids and h['stat'] == 'median'}
        for side in ('ours', 'peer'):
            lines.append(f"| {p['name']} | {side} | "
                         + ' | '.join(f"{cells[b][side + '_name']} ({cells[b][side]:.2g})" for b in budgets) + ' |')
    return '\n'.join(lines)

def single_setting(res: dict, side: str, grids=('trailing', 'karras')) -> tuple:
    """The one (sampler, grid, end) of `side` whose errors, over every problem, budget and statistic, are closest to the
    best of both sides in geometric mean: (geometric mean, worst ratio, its name)."""
    ratios = {}
    for p in res['problems']:
        for b in res['budgets']:
            cell = [r for r in p['rows'] if r['budget'] == b and r['grid'] in grids]
            for stat in ('median', 'rms'):
                top = min(r[stat] for r in cell if math.isfinite(r[stat]))
                for r in cell:
                    if r['side'] == side:
                        key = (r['sampler'], r['grid'], r['end'])
                        ratios.setdefault(key, []).append(r[stat] / top if math.isfinite(r[stat]) else math.inf)
    n = max(len(v) for v in ratios.values())
    score = {k: math.exp(sum(map(math.log, v)) / n) for k, v in ratios.items() if len(v) == n}
    k = min(score, key=score.get)
    return score[k], max(ratios[k]), f"{k[0]}, {k[1]}" + (', to σ_min' if k[2] == 'sigma_min' else '')

def single_setting_table(res: dict) -> str:
    "One setting per side for every problem and budget (trailing and Karras grids): its error / the best of both sides."
    lines = ['| side | the one setting | geometric mean | worst |', '|---|---|---|---|']
    for side in ('ours', 'peer'):
        g, w, name = single_setting(res, side)
        lines.append(f'| {side} | {name} | {g:.2f} | {w:.1f} |')
    return '\n'.join(lines)

# ratios this close to 1 are the same algorithm on both sides (ours in float64, diffusers' step() in float32)
TIE = 1e-4

def summary(res: dict) -> str:
    "Markdown bullets counting, per headline, the cells where ours lead, tie and trail (naming the trailing ones)."
    out = []
    for kind, label in (('restricted', 'Trailing and Karras grids (a)'), ('best grid', 'Every grid (b)')):
        cells = [(p['name'], h) for p in res['problems'] for h in p['headline'] if h['grids'] == kind]
        ahead = [c for c in cells if c[1]['ratio'] < 1 - TIE]
        behind = [c for c in cells if c[1]['ratio'] > 1 + TIE]
        half = [c for c in cells if c[1]['budget'] in (10, 20) and c[1]['ratio'] <= 0.5]
        mid = [c for c in cells if c[1]['budget'] in (10, 20)]
        cal = [c for c in ahead if c[1]['ours_name'].startswith('samples_calibrated')]
        line = (f"*{label}:* ours ahead in {len(ahead)} of {len(cells)} cells, "
                f"equal in {len(cells) - len(ahead) - len(behind)} "
                f"(the same algorithm on both sides), behind in {len(behind)}")
        if behind:
            line += ' (' + '; '.join(f"{n} {h['stat']} at {h['budget']}: {h['ratio']:.2f} against {h['peer_name']}"
                                     for n, h in behind) + ')'
        line += (f". {len(cal)} of the leads come from `samples_calibrated`; at 10 and 20 evaluations {len(half)} of "
                 f"{len(mid)} cells reach the aim of 0.5 or less.")
        out.append('- ' + line)
    (go, wo, no), (gp, wp, np_) = single_setting(res, 'ours'), single_setting(res, 'peer')
    out.append("- *One setting for everything* (trailing and Karras grids, error / best of both sides, "
               f"geometric mean): ours {go:.2f} ({no}), peers {gp:.2f} ({np_}); the leads above are a "
               "best-of-settings result, taken on both sides alike.")
    sde = [r for p in res.get('sde', []) for r in p['ratios']]
    if sde:
        out.append(f"- *Stochastic:* ours ahead in {sum(r['ratio'] < 1 - TIE for r in sde)} of {len(sde)} cells, "
                   f"equal in {sum(abs(r['ratio'] - 1) <= TIE for r in sde)}, "
                   f"behind in {sum(r['ratio'] > 1 + TIE for r in sde)}.")
    if res.get('overhead'):
        out.append(f"- *Overhead:* ours / diffusers' `step()` from {min(r['ratio'] for r in res['overhead']):.2f} to "
                   f"{max(r['ratio'] for r in res['overhead']):.2f} per step outside the model call.")
    return '\n'.join(out)

def sde_table(res: dict) -> str:
    lines = ['| problem | NFE | ours (sliced W2) | best peer | ours / peer |', '|---|---|---|---|---|']
    for p in res.get('sde', []):
        for r in p['ratios']:
            lines.append(f"| {p['name']} | {r['budget']} | {r['ours']:.4f} {r['ours_name']} | "
                         f"{r['peer']:.4f} {r['peer_name']} | {r['ratio']:.2f} |")
    return '\n'.join(lines)

def overhead_table(res: dict) -> str:
    lines = ['| method | ours µs/step | diffusers µs/step | ours / diffusers |', '|---|---|---|---|']
    for r in res.get('overhead', []):
        lines.append(f"| {r['method']} | {r['ours_us']:.0f} | {r['peer_us']:.0f} | {r['ratio']:.2f} |")
    return '\n'.join(lines)

def main(path=DEFAULT):
    res = json.loads(Path(path).read_text())
    print(f"Sampler benchmark ({res['hardware']}, {res['seconds'] / 60:.0f} min). ours / best peer, lower is better:\n")
    print('(a) trailing and Karras grids only\n\n' + headline_table(res, 'restricted') + '\n')
    print('(b) every grid (trailing, Karras, sigmas_trig with the data std, calibrated on the model at 5-20 '
          'evaluations)\n\n' + headline_table(res, 'best grid') + '\n')
    print('Best on each side, restricted grids (median error)\n\n' + winners_table(res, 'restricted') + '\n')
    print('Best on each side, every grid (median error)\n\n' + winners_table(res, 'best grid') + '\n')
    print('One setting for everything (trailing and Karras grids; error / best of both sides)\n\n'
          + single_setting_table(res) + '\n')
    print('Stochastic samplers, sliced W2 to fresh draws, best grid on each side\n\n' + sde_table(res) + '\n')
    print('Overhead outside the model call (trivial model, batch 1, 50 steps)\n\n' + overhead_table(res) + '\n')
    print('Summary\n\n' + summary(res))

if __name__ == '__main__':
    main(*sys.argv[1:])
