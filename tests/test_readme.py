"""README.md is generated from nbs/index.ipynb (`make readme`, i.e. `tools/build_docs.py --readme-only`)."""
import difflib, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_current(tmp_path):
    "Fails when README.md (or a figure it shows) differs from what the generator makes of nbs/index.ipynb."
    assert (ROOT/'nbs'/'index.ipynb').exists(), 'nbs/index.ipynb (the home page and README source) is missing'
    fresh = tmp_path/'README.md'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--readme-only', '--readme', str(fresh)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f'README generation failed:\n{r.stdout}\n{r.stderr}'
    have = (ROOT/'README.md').read_text(encoding='utf-8') if (ROOT/'README.md').exists() else ''
    want = fresh.read_text(encoding='utf-8')
    diff = ''.join(list(difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                             'README.md', 'generated'))[:60])
    assert have == want, f'README.md is out of date: run `make readme`\n{diff}'
    for f in tmp_path.rglob('*'):  # figures the README links to (index_files/...)
        if f.is_file() and f != fresh:
            rel = f.relative_to(tmp_path)
            assert (ROOT/rel).exists() and (ROOT/rel).read_bytes() == f.read_bytes(), \
                f'{rel} is out of date: run `make readme`'
