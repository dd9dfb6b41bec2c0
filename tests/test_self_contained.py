"""The project stands alone: no file reads a folder that only the maintainers' machines have beside the clone."""
import re, subprocess

# the maintainers' checkout has a read-only sibling folder; a user's clone does not. Built from pieces so that
# this file does not match itself.
SIBLING = 'sha' + 'red'
PATTERNS = [re.escape('../' + SIBLING), re.escape(SIBLING + '/data'), r"""/\s*['"]""" + SIBLING + r"""['"]""",
            r"""['"]""" + SIBLING + r"""['"]\s*/"""]

def tracked_text_files(root):
    names = subprocess.run(['git', 'ls-files', '-z'], cwd=root, check=True, capture_output=True).stdout.split(b'\0')
    for name in filter(None, names):
        path = root / name.decode()
        if not path.is_file(): continue
        try: yield path, path.read_text(encoding='utf-8')
        except UnicodeDecodeError: continue   # images and other binary files

def test_no_file_names_the_sibling_folder(root):
    hits = [f'{p.relative_to(root)}:{t.count(chr(10), 0, m.start()) + 1}: {m.group(0)}'
            for p, t in tracked_text_files(root) for pat in PATTERNS for m in re.finditer(pat, t)]
    assert not hits, 'these files read a folder that exists only beside the maintainers\' clone:\n' + '\n'.join(hits)

def test_patterns_catch_the_old_references():
    "The patterns match the forms the notebooks and conftest used before the data shipped with the package."
    old = ["Path('../../" + SIBLING + "/data/DatasaurusDozen.tsv')", "ROOT.parent / '" + SIBLING + "' / 'data'"]
    assert all(any(re.search(p, o) for p in PATTERNS) for o in old)
    assert not any(re.search(p, 'on a ' + SIBLING + ' machine') for p in PATTERNS)
