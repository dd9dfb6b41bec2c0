"""`make lint`: ruff's unused imports (F401) and lines over 120 characters (E501), as pyproject.toml configures them,
over the package, tests, tools, benchmarks and examples.

One exception, nobody's code: nbdev writes each module's `__all__` wrapped at 120 characters *before* it prefixes
`__all__ = `, so that line can reach 130. The notebooks are the source of smalldiffusion/ and cannot shorten it; the
E501 findings on that one generated line are dropped here, and counted."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ['smalldiffusion', 'tests', 'tools', 'benchmarks', 'examples']


def nbdev_all_line(path: Path, row: int) -> bool:
    "Whether line `row` (1-based) of `path` is the first line of nbdev's generated `__all__`."
    lines = path.read_text(encoding='utf-8').splitlines()
    return row >= 2 and lines[row - 1].startswith('__all__ = [') and lines[row - 2] == '# %% auto #0'


def main() -> int:
    ruff = [sys.executable, '-m', 'ruff', 'check', '--output-format', 'json', *FOLDERS]
    out = subprocess.run(ruff, cwd=ROOT, capture_output=True, text=True)
    if out.returncode not in (0, 1): print(out.stderr, file=sys.stderr); return out.returncode
    found = json.loads(out.stdout or '[]')
    kept = [f for f in found if not (f['code'] == 'E501' and nbdev_all_line(Path(f['filename']), f['location']['row']))]
    for f in kept:
        print(f"{Path(f['filename']).relative_to(ROOT)}:{f['location']['row']}:{f['location']['column']}: "
              f"{f['code']} {f['message']}")
    print(f'lint: {len(kept)} findings ({len(found) - len(kept)} on nbdev-generated __all__ lines left out)')
    return 1 if kept else 0


if __name__ == '__main__':
    sys.exit(main())
