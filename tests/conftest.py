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
