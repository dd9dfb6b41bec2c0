"""`nbdev_export` on the committed notebooks reproduces the committed package exactly."""
import shutil, subprocess, sys
from pathlib import Path

def test_nbdev_export_changes_nothing(root, tmp_path):
    work = tmp_path / 'repo'
    for name in ('settings.ini', 'setup.py', 'pyproject.toml', 'nbs'):
        src = root / name
        if src.is_dir(): shutil.copytree(src, work / name)
        elif src.exists(): work.mkdir(exist_ok=True); shutil.copy(src, work / name)
    (work / 'smalldiffusion').mkdir()   # empty: a module that no notebook exports any more must show up as a difference
    nbdev_export = Path(sys.executable).parent / 'nbdev_export'
    subprocess.run([str(nbdev_export)], cwd=work, check=True, capture_output=True)
    committed = {p.relative_to(root): p.read_text() for p in (root / 'smalldiffusion').glob('*.py')}
    exported = {p.relative_to(work): p.read_text() for p in (work / 'smalldiffusion').glob('*.py')}
    assert committed.keys() == exported.keys()
    stale = [str(k) for k in committed if committed[k] != exported[k]]
    assert not stale, f'run nbdev_export and commit: these modules differ from their notebooks: {stale}'
