import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def root(): return ROOT

@pytest.fixture(scope='session')
def datasaurus_tsv():
    "The Datasaurus Dozen file from ../shared/data (or $DATASAURUS_TSV)."
    path = Path(os.environ.get('DATASAURUS_TSV', ROOT.parent / 'shared' / 'data' / 'DatasaurusDozen.tsv'))
    if not path.is_file(): pytest.skip(f'{path} not found: set DATASAURUS_TSV')
    return path
