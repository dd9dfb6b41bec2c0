"""The sampler benchmark's statistics (benchmarks/samplers.py): paired bootstrap intervals over the fresh draws, and
the lead / tie / trail verdict of a cell."""
import math

import numpy as np

B = 1000          # bootstrap resamples
LEVEL = 0.95

def _stat(d: np.ndarray, name: str, axis=-1):
    return np.median(d, axis=axis) if name == 'median' else np.sqrt(np.mean(d ** 2, axis=axis))

def _interval(samples: np.ndarray, point: float) -> tuple:
    "Percentile interval, widened to contain the point estimate where it does not (flagged)."
    lo, hi = (float(np.percentile(samples, q)) for q in (50 * (1 - LEVEL), 50 * (1 + LEVEL)))
    widened = not lo <= point <= hi
    return min(lo, point), max(hi, point), widened

def bootstrap_ratio(d_ours: np.ndarray, d_peer: np.ndarray, stat: str, seed: int=0, b: int=B) -> dict:
    "stat(ours) / stat(peer) on the same draws, with a paired bootstrap interval (the same resample for both)."
    if d_ours.shape != d_peer.shape: raise ValueError('paired draws: the same fresh draws for both sides')
    o, p = float(_stat(d_ours, stat)), float(_stat(d_peer, stat))
    idx = np.random.default_rng(seed).integers(0, len(d_ours), (b, len(d_ours)))
    with np.errstate(invalid='ignore', divide='ignore'):
        r = _stat(d_ours[idx], stat) / _stat(d_peer[idx], stat)
    lo, hi, widened = _interval(r, o / p)
    return dict(ratio=o / p, lo=lo, hi=hi, ours=o, peer=p, verdict=verdict(lo, hi), widened=widened)

def bootstrap_geomean(pairs: dict, seed: int=0, b: int=B) -> dict:
    """Geometric mean over cells of stat(ours) / stat(peer); `pairs`: problem -> [(d_ours, d_peer, stat)], the draws
    of one problem resampled together (its cells share them)."""
    rng, logs, point = np.random.default_rng(seed), np.zeros(b), []
    for cells in pairs.values():
        n = len(cells[0][0])
        idx = rng.integers(0, n, (b, n))
        for d_o, d_p, stat in cells:
            point.append(math.log(_stat(d_o, stat) / _stat(d_p, stat)))
            logs += np.log(_stat(d_o[idx], stat) / _stat(d_p[idx], stat))
    g = math.exp(sum(point) / len(point))
    lo, hi, widened = _interval(np.exp(logs / len(point)), g)
    return dict(ratio=g, lo=lo, hi=hi, cells=len(point), verdict=verdict(lo, hi), widened=widened)

ROUNDING = 1e-5   # ratios this close to 1 are the same method up to rounding (float32 runs accumulate ~1e-6)

def verdict(lo: float, hi: float) -> str:
    """A lead when the whole interval of ours / peer is below 1, a trail when above, else a tie; an interval within
    ROUNDING of 1 is a tie (two implementations of one method differ only by floating-point rounding)."""
    if max(abs(lo - 1), abs(hi - 1)) < ROUNDING: return 'tie'
    return 'lead' if hi < 1 else 'trail' if lo > 1 else 'tie'

def counts(cells: list) -> dict:
    "{lead, tie, trail: number of cells}."
    return {v: sum(c['verdict'] == v for c in cells) for v in ('lead', 'tie', 'trail')}

def geomean(xs) -> float:
    xs = list(xs)
    return math.exp(sum(map(math.log, xs)) / len(xs))
