"""Size of the core a reader must read: the exported code of the schedule, training and sampling notebooks.

Counts the non-blank lines of every exported cell (`#| export`, `#| exports`), directives excluded, and lists the
longest cells. `python tools/core_size.py [notebooks...]` prints the report; tests/test_core_size.py holds the
budget."""
import json, re, sys
from pathlib import Path

CORE = ['nbs/00_schedule.ipynb', 'nbs/01_training.ipynb', 'nbs/02_sampling.ipynb']
BUDGET = 160          # the published smalldiffusion's one-file core
CELL_BUDGET = 15      # lines in one exported cell, the house style's limit

def exported_cells(path):
    "(first code line, non-blank code lines) of each exported cell of the notebook at `path`."
    for cell in json.loads(Path(path).read_text())['cells']:
        lines = ''.join(cell['source']).splitlines()
        if cell['cell_type'] == 'code' and any(re.match(r'#\|\s*exports?\b', l) for l in lines):
            code = [l for l in lines if l.strip() and not l.startswith('#|')]
            yield code[0], len(code)

def report(paths=CORE, root='.'):
    "{notebook: (lines, [(lines, first line) of its cells])}."
    return {p: (sum(n for _, n in cells), sorted(((n, f) for f, n in cells), reverse=True))
            for p in paths for cells in [list(exported_cells(Path(root) / p))]}

if __name__ == '__main__':
    r = report(sys.argv[1:] or CORE)
    for p, (n, cells) in r.items():
        print(f'{p}: {n} exported lines, {len(cells)} cells, longest {cells[0][0] if cells else 0}')
    cells = sorted((c for _, cs in r.values() for c in cs), reverse=True)
    over = sum(n > CELL_BUDGET for n, _ in cells)
    print(f'total {sum(n for n, _ in r.values())} lines; cells over {CELL_BUDGET} lines: {over}')
    for n, first in cells[:5]: print(f'  {n:3d}  {first[:90]}')
