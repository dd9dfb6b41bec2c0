"""Markdown tables of the sampler benchmark, read from the JSON that `benchmarks/samplers.py` (`make bench`) wrote.

    python benchmarks/tables.py [benchmarks/results/samplers.json]

Every ratio is ours / diffusers' on the fresh draws, with its paired bootstrap 95% interval; a lead (trail) is a cell
whose whole interval lies below (above) 1, anything else a tie. Nothing here is typed by hand.
"""
import ast, json, sys
from pathlib import Path

DEFAULT = Path(__file__).parent / 'results' / 'samplers.json'
HEADLINES = {'restricted': '(1) fixed methods, trailing and Karras grids',
             'every grid': '(2) fixed methods, every grid'}

def fmt(c: dict) -> str:
    "ratio [lo, hi] and the verdict of a cell."
    return f"{c['ratio']:.2f} [{c['lo']:.2f}, {c['hi']:.2f}] {c['verdict']}"

def headline_cells(res: dict, grids: str) -> list:
    return [h for p in res['problems'] for h in p['headline'] if h['grids'] == grids]

def headline_table(res: dict, grids: str) -> str:
    "ours / best peer on fresh draws, one row per problem and statistic, one column per budget."
    budgets = res['budgets']
    lines = ['| problem | error | ' + ' | '.join(f'NFE {b}' for b in budgets) + ' |',
             '|---|---|' + '---|' * len(budgets)]
    for p in res['problems']:
        name = p['name'] + (' (settings chosen here)' if p['tuned_here'] else '')
        for st in ('median', 'rms'):
            cells = {h['budget']: h for h in p['headline'] if h['grids'] == grids and h['stat'] == st}
            lines.append(f'| {name} | {st} | ' + ' | '.join(fmt(cells[b]) for b in budgets) + ' |')
    return '\n'.join(lines)

def absolute_table(res: dict, grids: str, st: str='rms') -> str:
    "The two picks of each cell (dev-picked) and their absolute fresh errors."
    lines = ['| problem | NFE | ours (picked on dev) | error | diffusers (picked on dev) | error |',
             '|---|---|---|---|---|---|']
    for h in headline_cells(res, grids):
        if h['stat'] == st:
            lines.append(f"| {h['problem']} | {h['budget']} | {h['ours_name']} | {h['ours']:.3g} | {h['peer_name']} | "
                         f"{h['peer']:.3g} |")
    return '\n'.join(lines)

def fitted_table(res: dict) -> str:
    "(3) fitted methods against the best fixed peer (every grid), with their calibration cost."
    lines = ['| problem | method | NFE | error | ours / best peer | fitted on | draws | calibration s | '
             'calibration calls |',
             '|---|---|---|---|---|---|---|---|---|']
    for p in res['problems']:
        for c in p['fitted']:
            lines.append(f"| {p['name']} | {c['method']} | {c['budget']} | {c['stat']} | {fmt(c)} | {c['ours_name']} | "
                         f"{draws(c, res)} | {c['calibration_seconds']:.0f} | {c['calibration_calls']:,} |")
    return '\n'.join(lines)

def draws(c: dict, res: dict) -> str:
    """The calibration draws of a fitted cell: the tuner's own (with its pilot's where it grew them; the JSON keeps its
    choice as text), or samples_calibrated's `cal_batch`."""
    choice = c.get('choice') or {}
    if 'batch' not in choice: return f"{res['config']['cal_batch']:,}"
    pilot = ast.literal_eval(choice.get('pilot', 'None'))
    return f"{int(choice['batch']):,}" + (f" (pilot {pilot['batch']:,})" if pilot else '')

def single_table(res: dict) -> str:
    "(4) one setting per side for every problem, budget and statistic."
    s = res['single']
    g = s['geomean']
    return '\n'.join([
        '| side | the one setting (chosen on dev draws) | dev score: geometric mean of error / best of anyone |',
        '|---|---|---|',
        f"| ours | {s['ours']['name']} | {s['ours']['dev_score']:.2f} |",
        f"| diffusers | {s['peer']['name']} | {s['peer']['dev_score']:.2f} |",
        '', f"On fresh draws, ours / diffusers' one setting, geometric mean over {g['cells']} cells: {fmt(g)}; "
            "per cell: "
        + counts_text(s['cells']) + '.'])

def recommended_table(res: dict) -> str:
    "(5) `recommended(schedule, nfe)` against the peers' best single setting."
    if 'recommended' not in res: return 'Not run: ' + '; '.join(l for l in res['not_run'] if 'recommended' in l)
    r = res['recommended']
    lines = ['| problem | NFE | error | recommended / diffusers\' one setting | recommended error |',
             '|---|---|---|---|---|']
    lines += [f"| {c['problem']} | {c['budget']} | {c['stat']} | {fmt(c)} | {c['ours']:.3g} |" for c in r['cells']]
    return '\n'.join(lines + ['', f"Geometric mean over {r['geomean']['cells']} cells, against {r['peer']}: "
                              f"{fmt(r['geomean'])}; per cell: {counts_text(r['cells'])}."])

def tuner_target(res: dict, target: float=0.7, against: str='dev pick') -> dict:
    """tune_sampler's cells at 5 and 10 evaluations: how many have ratio ≤ `target`, and how many their whole interval;
    against the peer's dev pick, or (`against='hindsight'`) the peer setting best on the fresh draws."""
    cells = [c for p in res['problems'] for c in p['fitted'] if c['method'] == 'tune_sampler' and c['budget'] <= 10]
    if against == 'hindsight': cells = [c['hindsight'] for c in cells if 'hindsight' in c]
    return dict(cells=len(cells), point=sum(c['ratio'] <= target for c in cells),
                sure=sum(c['hi'] <= target for c in cells))

def hindsight_table(res: dict) -> str:
    "The fitted methods at 5 and 10 evaluations against the peer setting chosen with hindsight (best on fresh draws)."
    cells = [(p['name'], c) for p in res['problems'] for c in p['fitted'] if 'hindsight' in c]
    if not cells: return 'Not in this run: the hindsight comparison came with a later version of the benchmark.'
    lines = ['| problem | method | NFE | error | ours / dev-picked peer | ours / hindsight peer | hindsight peer '
             '(its dev rank) |', '|---|---|---|---|---|---|---|']
    lines += [f"| {n} | {c['method']} | {c['budget']} | {c['stat']} | {fmt(c)} | {fmt(c['hindsight'])} | "
              f"{c['hindsight']['peer_name']} ({c['hindsight']['dev_rank']} of {c['hindsight']['k']}) |"
              for n, c in cells]
    return '\n'.join(lines)

def recommended_check_table(path=None) -> str:
    "recommended / diffusers' one setting on the problems the benchmark never ran (benchmarks/recommended_check.py)."
    path = Path(path or DEFAULT.parent / 'recommended_check.json')
    if not path.exists(): return 'Not run: python benchmarks/recommended_check.py'
    r = json.loads(path.read_text())
    lines = ['| problem | NFE | error | recommended / UniPC-3 bh2 | recommended | UniPC-3 bh2 |',
             '|---|---|---|---|---|---|']
    lines += [f"| {c['problem']} | {c['nfe']} | {c['stat']} | {fmt(c)} | {c['ours']:.3g} | {c['peer']:.3g} |"
              for c in r['cells']]
    return '\n'.join(lines + ['', f"Geometric mean over {r['geomean']['cells']} cells: {fmt(r['geomean'])}; per cell: "
                              f"{counts_text(r['cells'])}."])

def counts_text(cells: list) -> str:
    n = {v: sum(c['verdict'] == v for c in cells) for v in ('lead', 'tie', 'trail')}
    word = lambda v: f"{n[v]} {v}{'' if n[v] == 1 else 's'}"
    return f"{word('lead')}, {word('tie')}, {word('trail')} of {len(cells)}"

def summary(res: dict) -> str:
    "Counts of leads, ties and trails per headline (each trail and lead with its interval)."
    out = []
    for kind, label in HEADLINES.items():
        cells = headline_cells(res, kind)
        line = f'- *{label}:* {counts_text(cells)} cells'
        trails = [c for c in cells if c['verdict'] == 'trail']
        if trails: line += '; trails: ' + '; '.join(f"{c['problem']} {c['stat']} at {c['budget']}: {fmt(c)}"
                                                    for c in trails)
        out.append(line + '.')
    fitted = [c for p in res['problems'] for c in p['fitted']]
    if fitted:
        out.append(f'- *(3) fitted methods vs the best fixed peer:* {counts_text(fitted)} cells.')
        t = tuner_target(res)
        if t['cells']: out.append(f"- *tune_sampler at 5 and 10 evaluations, target ≤ 0.7 of the best fixed peer:* "
                                  f"{t['point']} of {t['cells']} cells by the ratio, {t['sure']} with the whole "
                                  f"interval ≤ 0.7.")
        h = tuner_target(res, against='hindsight')
        if h['cells']: out.append(f"- *... against the peer setting chosen with hindsight (best on the fresh draws):* "
                                  f"{h['point']} of {h['cells']} cells by the ratio, {h['sure']} with the whole "
                                  f"interval ≤ 0.7.")
    out.append(f"- *(4) one setting each:* ours ({res['single']['ours']['name']}) / diffusers' "
               f"({res['single']['peer']['name']}): {fmt(res['single']['geomean'])} in geometric mean; per cell "
               f"{counts_text(res['single']['cells'])}.")
    if 'recommended' in res:
        out.append(f"- *(5) recommended default / diffusers' one setting:* {fmt(res['recommended']['geomean'])}; "
                   f"per cell {counts_text(res['recommended']['cells'])}.")
    sde = [c for s in res.get('sde', []) for c in s['cells']]
    if sde: out.append(f"- *Stochastic (sliced W2):* {counts_text(sde)} cells "
                       f"({sum(c['inside_floor'] for c in sde)} gaps inside the fresh-vs-fresh floor).")
    if res.get('fd'): out.append(f"- *digits U-Net, Fréchet distance:* {counts_text(res['fd']['cells'])} budgets.")
    if res.get('overhead'):
        out.append(f"- *Overhead:* ours / diffusers' `step()` from {min(r['ratio'] for r in res['overhead']):.2f} to "
                   f"{max(r['ratio'] for r in res['overhead']):.2f} per step outside the model call.")
    return '\n'.join(out)

def sde_table(res: dict) -> str:
    lines = ['| problem | NFE | ours (sliced W2) | diffusers | ours / diffusers | floor |', '|---|---|---|---|---|---|']
    for s in res.get('sde', []):
        for c in s['cells']:
            lines.append(f"| {s['name']} | {c['budget']} | {c['ours']:.4f} {c['ours_name']} | {c['peer']:.4f} "
                         f"{c['peer_name']} | {fmt(c)} | {c['floor']:.4f} |")
    return '\n'.join(lines)

def fd_table(res: dict) -> str:
    "The U-Net's Fréchet distances: the dev picks (ratio with interval) and every default."
    fd = res.get('fd')
    if not fd: return 'Not run.'
    lines = [f"Floor (held-out vs {fd['n']} training digits): {fd['floor']:.2f}", '',
             '| NFE | ours (dev pick) FD | diffusers (dev pick) FD | ours / diffusers |', '|---|---|---|---|']
    lines += [f"| {c['budget']} | {c['ours']:.2f} {c['ours_name']} | {c['peer']:.2f} {c['peer_name']} | {fmt(c)} |"
              for c in fd['cells']]
    lines += ['', '| side | setting (defaults) | ' + ' | '.join(f"NFE {b}" for b in res['budgets']) + ' |',
              '|---|---|' + '---|' * len(res['budgets'])]
    rows = {}
    for r in fd['rows']:
        if r['default']: rows.setdefault((r['side'], r['sampler']), {})[r['budget']] = r['fd']
    lines += [f"| {s} | {n} | " + ' | '.join(f"{v.get(b, float('nan')):.2f}" for b in res['budgets']) + ' |'
              for (s, n), v in rows.items()]
    return '\n'.join(lines)

def overhead_table(res: dict) -> str:
    lines = ['| method | ours µs/step | diffusers µs/step | ours / diffusers |', '|---|---|---|---|']
    for r in res.get('overhead', []):
        lines.append(f"| {r['method']} | {r['ours_us']:.0f} | {r['peer_us']:.0f} | {r['ratio']:.2f} |")
    return '\n'.join(lines)

def failed_table(res: dict) -> str:
    "Settings that did not run on a problem or failed on some grid, end or budget, with diffusers' error."
    lines = ['| problem | setting (error) |', '|---|---|']
    for p in res['problems']:
        lines += [f"| {p['name']} | {f} |" for f in p['failed']]
    return '\n'.join(lines)

def main(path=DEFAULT):
    res = json.loads(Path(path).read_text())
    print(f"Sampler benchmark ({res['hardware']}, {res['seconds'] / 60:.0f} min). ours / diffusers on fresh draws, "
          "[95% interval], lower is better:\n")
    for kind, label in HEADLINES.items():
        print(label + '\n\n' + headline_table(res, kind) + '\n\nAbsolute RMS errors\n\n'
              + absolute_table(res, kind) + '\n')
    print('(3) fitted methods\n\n' + fitted_table(res) + '\n')
    print('(3b) fitted methods against the hindsight peer\n\n' + hindsight_table(res) + '\n')
    print('(4) one setting for everything\n\n' + single_table(res) + '\n')
    print('(5) the recommended default\n\n' + recommended_table(res) + '\n')
    print('(5) on problems the benchmark never ran\n\n' + recommended_check_table() + '\n')
    print('Stochastic samplers\n\n' + sde_table(res) + '\n')
    print('digits U-Net, Fréchet distance\n\n' + fd_table(res) + '\n')
    print('Overhead outside the model call (trivial model, batch 1, 50 steps)\n\n' + overhead_table(res) + '\n')
    print('Recorded failures\n\n' + failed_table(res) + '\n')
    print('Summary\n\n' + summary(res))
    for line in res['not_run']: print('- not run:', line)

if __name__ == '__main__':
    main(*sys.argv[1:])
