# smalldiffusion developer commands. Every target creates .venv when it is missing.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
# pip prints one warning per package for this machine's unused local index folders: hide those lines only
# (grep exits 1 when it prints nothing; any other failure, pip's included through pipefail, stops make)
PIPQ := { grep -v "is ignored: it is neither a file nor a directory" || [ $$? = 1 ]; }

.PHONY: help install dev demo test lint nbtest pytest export clean-nbs browser docs readme bench bench-gpu clean

help:
	@echo "make demo    train the toy Swissroll model on CPU and write demo/swissroll.png"
	@echo "make test    install the dev extra, run ruff, nbdev_test and pytest (what CI runs)"
	@echo "            (the docs browser checks need chromium: installed as root, skipped loudly otherwise)"
	@echo "make lint    ruff: unused imports and lines over 120 characters (pyproject.toml)"
	@echo "make docs    build the documentation site into _docs/"
	@echo "make export  regenerate smalldiffusion/ from nbs/ (nbdev_export)"
	@echo "make bench   run the benchmarks in benchmarks/"

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | $(PIPQ)

$(VENV)/.installed: $(PY) setup.py settings.ini
	$(PY) -m pip install -q -e . matplotlib 2>&1 | $(PIPQ)
	@$(PY) -c "import smalldiffusion, matplotlib"
	touch $@

$(VENV)/.installed-dev: $(PY) setup.py settings.ini
	$(PY) -m pip install -q -e '.[dev]' 2>&1 | $(PIPQ)
	@$(PY) -c "import smalldiffusion, nbdev, diffusers, transformers, pytest"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(PY) examples/swissroll_demo.py --out demo/swissroll.png

# nbdev_test runs the notebooks' test cells in parallel, one torch thread each (2 CPUs here), progress bars off
nbtest: dev
	TQDM_DISABLE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(VENV)/bin/nbdev_test --n_workers 2 --timing

pytest: dev browser
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q tests

# ruff's rules and exclusions are in pyproject.toml; the notebooks are the source of smalldiffusion/, so a finding
# there is fixed in nbs/ and exported
lint: dev
	$(PY) tools/lint.py

test: lint nbtest pytest

export: dev
	$(VENV)/bin/nbdev_export

clean-nbs: dev
	$(VENV)/bin/nbdev_clean

# Debian's chromium for the docs site's browser checks (tests/test_docs.py), installed when missing as root or through
# passwordless sudo. Without either it warns loudly and goes on (the browser checks skip, and pytest says so at the
# end); with CI=true (GitHub Actions, .ci/run) a missing chromium fails here and a skipped browser check fails pytest.
browser:
	bash tools/ensure_chromium.sh

docs: dev
	TQDM_DISABLE=1 $(PY) tools/build_docs.py

readme: dev
	$(PY) tools/build_docs.py --readme-only

# samplers.py writes benchmarks/results/samplers.json and samplers.png (about an hour on 2 CPUs); recommended_check.py
# checks the recommended default on four problems the benchmark never ran (results/recommended_check.json);
# tables.py prints the headline tables from that JSON
bench: dev
	$(PY) benchmarks/train_toy.py
	$(PY) benchmarks/samplers.py
	$(PY) benchmarks/recommended_check.py
	$(PY) benchmarks/tables.py
	$(PY) benchmarks/latent_diffusion.py
	$(PY) benchmarks/gpu_unet_amp.py --smoke --no-compile

# on a machine with a CUDA GPU: U-Net training fp32 vs bf16 (+ channels_last, + torch.compile)
bench-gpu: dev
	$(PY) benchmarks/gpu_unet_amp.py

clean:
	rm -rf _docs _proc build dist demo artifacts *.egg-info
