"""The sampler benchmark's protocol (benchmarks/samplers.py): grids injected right, calls counted, dev and fresh noise
apart, every run scored where it stops, intervals and ties, every diffusers variant run or recorded, no fitted row in
the fixed-method headline. Tiny configurations: seconds."""
import ast
import importlib.util, json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import UniPCMultistepScheduler

from smalldiffusion.samplers import samples_dpmpp_2m, samples_heun

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / 'benchmarks' / 'results' / 'samplers.json'

@pytest.fixture(scope='module')
def bench():
    spec = importlib.util.spec_from_file_location('bench_samplers', ROOT / 'benchmarks' / 'samplers.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

@pytest.fixture(scope='module')
def mix16(bench): return bench.make_problem('mixture16', 16, 24, 40)

@pytest.fixture(scope='module')
def res(): return json.loads(RESULTS.read_text())

@pytest.mark.parametrize('grid', ['trailing', 'karras'])
def test_our_grids_are_the_peers_native_grids(bench, mix16, grid):
    """Injecting our trailing/Karras grid changes nothing: diffusers builds the same σ's. Both sides take ᾱ from a
    float32 cumulative product of 1000 factors, so they agree to about 1000 float32 epsilons: 1e-4 relative."""
    sch = UniPCMultistepScheduler(**bench.BETAS, final_sigmas_type='zero', **(
        dict(timestep_spacing='trailing') if grid == 'trailing' else dict(use_karras_sigmas=True)))
    sch.set_timesteps(10)
    torch.testing.assert_close(bench.make_grid(mix16, grid, 10), sch.sigmas.double(), rtol=1e-4, atol=0)

@pytest.mark.parametrize('grid', ['trailing', 'karras', 'trig'])
def test_injected_peer_equals_our_implementation(bench, mix16, grid):
    "On any injected grid diffusers' DPM-Solver++(2M) and Heun give our samplers' result: the σ's and calls are right."
    x = mix16['x']['dev']
    for name, ours, calls in [('DPM-Solver++(2M)', samples_dpmpp_2m, 10), ('Heun', samples_heun, 9)]:
        out, n = bench.run_peer(bench.PEERS[name], mix16, grid, 10, 'dev')
        steps = bench.peer_steps(bench.PEERS[name]['cls'], 10)
        mine = list(ours(mix16['model'], bench.make_grid(mix16, grid, steps), xt=x))[-1]
        # diffusers' step() computes in float32 even for float64 input: 1e-5 of the sample's scale
        torch.testing.assert_close(out, mine, rtol=0, atol=1e-5 * float(mine.abs().max()))
        assert n == calls                            # Heun: 2 calls per step but 1 for the last, so 9 in a budget of 10

def test_dev_and_fresh_noise_disjoint(bench, mix16):
    "Different seeds, no shared draw, and seed ranges that cannot meet for any problem or noise kind."
    dev, fresh = mix16['x']['dev'], mix16['x']['fresh']
    assert not any(torch.equal(a, b) for a in dev for b in fresh)
    assert (torch.cdist(dev, fresh) > 1).all()                      # σ_max-scale noise: far apart, never equal
    seeds = [s + 100 * i for s in (bench.DEV_SEED, bench.FRESH_SEED, bench.CAL_SEED, bench.DATA_SEED)
             for i in range(len(bench.PROBLEMS)) for s in (s, s + 50, s + 60, s + 77)]
    assert len(seeds) == len(set(seeds)) and min(seeds) > 7           # problem seeds are 0..7

def test_sigma_min_run_scored_at_sigma_min(bench):
    """A run stopping at σ_min is scored against the fine solve's state at σ_min (not at 0), and a run to 0 against
    its end: on wide4 (stds down to 0.006) a 50-step run is much closer to the reference where it stops."""
    p = bench.make_problem('wide4', 16, 16, 200)
    for end, other in (('sigma_min', 0.), ('zero', p['sig_min'])):
        d, calls = bench.run_setting('ours', 'samples_eps_adams', p, 'karras', 50, 'dev', end)
        x, _, sig_end = bench.sample_setting('ours', 'samples_eps_adams', p, 'karras', 50, 'dev', end)
        assert sig_end == pytest.approx(p['sig_min'] if end == 'sigma_min' else 0., rel=1e-12, abs=0)
        np.testing.assert_array_equal(d, bench.distances(x, bench.ref(p, 'dev', sig_end)))
        assert np.median(d) < 0.6 * np.median(bench.distances(x, bench.ref(p, 'dev', other)))

def test_intervals_and_ties(bench):
    "The interval contains the point estimate; it decides: a tie when it contains 1."
    rng = np.random.default_rng(0)
    a = rng.exponential(size=200)
    same = bench.bootstrap_ratio(a, a, 'rms')
    assert same['ratio'] == 1 and same['verdict'] == 'tie'
    lead = bench.bootstrap_ratio(0.5 * a, a * rng.uniform(0.9, 1.1, 200), 'median')
    assert lead['lo'] <= lead['ratio'] <= lead['hi'] < 1 and lead['verdict'] == 'lead'
    noisy = bench.bootstrap_ratio(a, rng.exponential(size=200), 'median')
    assert noisy['lo'] <= noisy['ratio'] <= noisy['hi']
    assert noisy['verdict'] == ('tie' if noisy['lo'] <= 1 <= noisy['hi'] else noisy['verdict'])
    assert bench.verdict(0.8, 1.01) == 'tie' and bench.verdict(1.01, 1.2) == 'trail'

def test_rounding_is_a_tie(bench):
    """Two implementations of one method differ by floating-point rounding: an interval within protocol.ROUNDING of 1
    is a tie, on either side; a real gap just outside it still counts."""
    from protocol import ROUNDING
    a = np.random.default_rng(1).exponential(size=200)
    for eps in (1e-13, -1e-13, 1e-7):                     # float64 rounding, and float32's accumulated over steps
        r = bench.bootstrap_ratio(a * (1 + eps), a, 'median')
        assert r['lo'] > 1 or r['hi'] < 1                  # the interval excludes 1 ...
        assert r['verdict'] == 'tie', (eps, r)              # ... but it is rounding
    assert bench.verdict(1 + 3 * ROUNDING, 1 + 4 * ROUNDING) == 'trail'
    assert bench.verdict(1 - 4 * ROUNDING, 1 - 3 * ROUNDING) == 'lead'

def test_committed_cells_are_consistent(res):
    "Every committed cell: interval around its point estimate, and the verdict its interval gives."
    cells = ([h for p in res['problems'] for h in p['headline'] + p['fitted']] + res['single']['cells']
             + [c for s in res['sde'] for c in s['cells']] + res.get('fd', {}).get('cells', []))
    assert cells
    for c in cells:
        assert c['lo'] <= c['ratio'] <= c['hi'], c
        v = 'lead' if c['hi'] < 1 else 'trail' if c['lo'] > 1 else 'tie'
        rounding = max(abs(c['lo'] - 1), abs(c['hi'] - 1)) < 1e-5
        assert c['verdict'] == v or (c['verdict'] == 'tie' and (c.get('inside_floor') or rounding)), c

def test_fixed_headline_has_no_fitted_row(bench, res):
    "The fixed-method headlines pick only from the frozen fixed settings; fitted methods are their own rows."
    fixed = set(bench.OURS) | set(bench.PEERS)
    assert not any(n.startswith(('samples_calibrated', 'tune_sampler')) for n in fixed)
    for p in res['problems']:
        for h in p['headline']:
            for name in (h['ours_name'], h['peer_name']):
                assert name.split(', ')[0] in fixed or name.rsplit(', ', 2)[0] in fixed or any(
                    name.startswith(k + ', ') for k in fixed), name
        assert all(c['method'].startswith(('samples_calibrated', 'tune_sampler')) for c in p['fitted'])

def test_every_diffusers_variant_runs_or_is_recorded(bench):
    "Every listed peer runs on every grid and end of each problem it applies to, or is recorded with its error."
    for name in ('wide4', 'flow16'):
        p = bench.make_problem(name, 4, 4, 20)
        rows, skipped = bench.run_dev(p, budgets=(5,), ours=['samples_dpmpp_2m'])
        for peer in bench.PEERS:
            have = {(r['grid'], r['end']) for r in rows if r['sampler'] == peer}
            if peer in skipped: assert not have and skipped[peer]; continue
            want = {('trailing', 'zero')} if peer == 'DDIM' else {(g, e) for g in bench.grids_of(p) for e in bench.ENDS}
            assert have == want, (name, peer)
        ok = {r['sampler'] for r in rows if 'error' not in r}
        assert all(r['nfe'] <= r['budget'] for r in rows)
        if name == 'flow16':     # the flow forms and FlowMatch schedulers do run there
            assert {'FlowMatchEuler', 'DPM-Solver++(2M) (flow sigmas)', 'UniPC-2 bh2 (flow sigmas)'} <= ok

def test_tuner_cells_use_the_tuner_for_their_statistic(bench, res):
    """At the budgets of TUNED_PER_STAT (every budget) each tune_sampler cell is scored on the tuner called with that
    cell's statistic (stat='median' or 'rms'), and that call's report says so; at any other budget its default
    (median) serves both. The JSON records the budgets, and they are the script's."""
    cells = [c for p in res['problems'] for c in p['fitted'] if c['method'] == 'tune_sampler']
    assert cells and res['tuned_per_stat'] == list(bench.TUNED_PER_STAT)
    for c in cells:
        want = c['stat'] if c['budget'] in bench.TUNED_PER_STAT else 'median'
        assert c['ours_name'] == f'tune_sampler, stat={want}' and c['choice']['stat'] == want, c

def test_tuner_runs_at_its_default_draws(bench, res):
    """The full run calls tune_sampler as a user does, without `batch`: the JSON says so, and the draws each call
    reports follow the tuner's default: a pilot of 256 draws for the median and 512 for the RMS, grown 2, 4 or 8 times
    where its noise was over the tuner's NOISE, and kept where it was not."""
    from smalldiffusion.tuning import NOISE, GROWTH
    assert bench.FULL['tuner_batch'] is None and res['config'].get('tuner_batch', 'missing') is None
    cells = [c for p in res['problems'] for c in p['fitted'] if c['method'] == 'tune_sampler']
    assert cells
    for c in cells:
        ch, start = c['choice'], {'median': 256, 'rms': 512}[c['choice']['stat']]
        pilot = ast.literal_eval(ch['pilot'])                   # the JSON keeps the choice's values as text
        if pilot is None: assert int(ch['batch']) == start, ch    # not noisy, or growing would take too long
        else:
            assert pilot['batch'] == start and pilot['noise'] > NOISE and pilot['growth'] in (2, 4, 8), pilot
            assert int(ch['batch']) == start * pilot['growth'] <= start * GROWTH, ch

@pytest.fixture(scope='module')
def problems_mod(bench):
    import sys
    return sys.modules[bench.make_problem.__module__]

def test_trained_networks_are_the_committed_ones(problems_mod, res):
    """The trained problems were scored on the weights committed in benchmarks/weights/: the JSON's sha256 of each is
    the file's (retraining the networks without rerunning the benchmark fails here)."""
    import hashlib
    seen = {p['name']: p.get('weights_sha256') for p in res['problems'] if p['name'] in ('digits_mlp', 'digits_unet')}
    assert set(seen) == {'digits_mlp', 'digits_unet'}
    files = {'digits_mlp': 'digits_mlp_scaled_6000', 'digits_unet': 'digits_unet_page'}
    for name, sha in seen.items():
        path = problems_mod.WEIGHTS / f'{files[name]}.safetensors'
        assert path.exists(), f'{path} is missing: it is committed with the benchmark'
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha, name

def test_training_starts_from_seeded_weights(problems_mod, tmp_path, monkeypatch):
    """A network trained for the benchmark starts from the same initial weights whatever drew from torch's global
    generator before (its construction is seeded, not only its training), and is saved where it is loaded from."""
    monkeypatch.setattr(problems_mod, 'WEIGHTS', tmp_path)
    build = lambda: torch.nn.Linear(3, 4)
    first = []
    def train(model): first.append({k: v.clone() for k, v in model.state_dict().items()}); return model
    torch.randn(17); m1, _, sha1 = problems_mod._trained(build, 'a', train)
    torch.rand(5); m2, _, sha2 = problems_mod._trained(build, 'b', train)
    assert len(first) == 2 and sha1 == sha2
    for k in first[0]: assert torch.equal(first[0][k], first[1][k]), k
    m3, seconds, sha3 = problems_mod._trained(build, 'a', lambda m: pytest.fail('retrained a committed network'))
    assert sha3 == sha1 and seconds == 0.
    for k, v in m1.state_dict().items(): assert torch.equal(v, m3.state_dict()[k]), k
