import os
from importlib import resources
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def root(): return ROOT

@pytest.fixture(scope='session')
def datasaurus_tsv():
    "The Datasaurus Dozen file shipped inside the package."
    return Path(str(resources.files('smalldiffusion').joinpath('datasets', 'DatasaurusDozen.tsv')))


# ---- browser checks skipped (tests/test_docs.py tags their skip reason): said loudly at the end; in CI a failure
BROWSER_SKIP = 'BROWSER CHECK SKIPPED'   # = tests/test_docs.py's BROWSER_SKIP
_browser_skips = []

def _in_ci() -> bool: return os.environ.get('CI', '').strip().lower() not in ('', '0', 'false', 'no')

def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple) and BROWSER_SKIP in report.longrepr[2]:
        _browser_skips.append((report.nodeid, report.longrepr[2].removeprefix('Skipped: ')))

def pytest_terminal_summary(terminalreporter):
    if not _browser_skips: return
    tr, reasons = terminalreporter, sorted({why for _, why in _browser_skips})
    tr.write_sep('!', f'{len(_browser_skips)} BROWSER CHECKS OF THE DOCS SITE SKIPPED', red=True, bold=True)
    for why in reasons:
        tr.write_line('why: ' + why.removeprefix(BROWSER_SKIP + ': ').split('; ')[0], red=True, bold=True)
    tr.write_line('skipped: ' + ', '.join(nodeid.split('::')[-1] for nodeid, _ in _browser_skips))
    tr.write_line("To run them: install Debian's chromium as root (apt-get install chromium, or `make browser` as "
                  'root), or set CHROMIUM=/path/to/chromium; then run tests/test_docs.py again.', bold=True)
    if _in_ci(): tr.write_line('CI=true: the browser checks are required, so this run FAILS.', red=True, bold=True)
    tr.write_sep('!', red=True, bold=True)

def pytest_sessionfinish(session):
    if _browser_skips and _in_ci() and session.exitstatus == 0: session.exitstatus = 1   # a skip in CI is a failure
