"The core (schedules, training loop, sampler) stays as small as the published one-file core: tools/core_size.py."
import sys
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import core_size

def test_core_fits_the_budget():
    r = core_size.report(root=ROOT)
    total = sum(n for n, _ in r.values())
    assert total <= core_size.BUDGET, f'the core has {total} exported lines, over the budget of {core_size.BUDGET}: {r}'

def test_counter_counts_exported_code_only(tmp_path):
    import json
    cells = [{'cell_type': 'code', 'source': ['#| export\n', 'def f():\n', '\n', '    return 1\n']},
             {'cell_type': 'code', 'source': ['#| exports\n', 'x = 1']},
             {'cell_type': 'code', 'source': ['#| hide\n', 'y = 2']},
             {'cell_type': 'markdown', 'source': ['#| export\n', 'text']}]
    (tmp_path / 'n.ipynb').write_text(json.dumps({'cells': cells}))
    assert core_size.report(['n.ipynb'], root=tmp_path)['n.ipynb'] == (3, [(2, 'def f():'), (1, 'x = 1')])
