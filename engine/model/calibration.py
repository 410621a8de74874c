"""Calibration: proper scores, coverage, PIT and reliability of the simulator on real races.

Scoring rules (pure functions on numpy arrays; one row per forecast):

* CRPS of a finishing position. For a forecast distribution p over positions 1..F with CDF
  F(k) and the realised position y, CRPS = sum_{k=1}^{F} (F(k) - 1{y <= k})^2, the
  (unnormalized) ranked probability score; for integer outcomes it equals the CRPS
  integral of (F(x) - 1{y <= x})^2 dx (Gneiting and Raftery 2007, section 4.2), which the
  tests cross-check against ``scoringrules.crps_ensemble``. Lower is better.
* log score: log p~(y) with p~ = (count(y) + a) / (N + a F), a = 0.5 (Jeffreys smoothing of
  the N simulated positions, so a position no scenario produced keeps a finite score);
  reported as a mean log probability, higher (closer to 0) is better (Gneiting and
  Raftery 2007, section 3).
* central-interval coverage at c = 0.5, 0.8, 0.95: (a) inclusive, y in [q_lo, q_hi] with the
  forecast's (1 - c) / 2 and (1 + c) / 2 quantiles, which over-covers for discrete ranks; (b)
  from the randomized PIT u = F(y - 1) + V (F(y) - F(y - 1)), V ~ U(0, 1), uniform under
  a calibrated forecast even for discrete outcomes (Czado, Gneiting and Held 2009), covered
  when |u - 1/2| <= c / 2: exact.
* reliability of binary events (win, top 3, top 5, top 10, top 20, DNF): forecast probabilities
  in ten bins against observed frequencies, and the Brier score. As numbers: the largest gap
  |forecast - observed| over the bins holding at least 100 results, and the Brier skill score
  BSS = 1 - Brier / (b (1 - b)) against always forecasting the base rate b of the scored results
  (Wilks 2011, Statistical Methods in the Atmospheric Sciences, section 8.4).
* winner log-loss: the mean over races of log p(actual winner wins), p smoothed as for the log
  score, next to the same for a baseline.
* DraftKings points: the ensemble CRPS E|X - y| - E|X - X'| / 2 (scoringrules, its integral
  form: the same value as the pairwise energy form up to float rounding, from a sort instead of
  an M x M difference matrix per driver) and inclusive coverage of the simulated points.
"""

from __future__ import annotations

import numpy as np

LEVELS = (0.5, 0.8, 0.95)
LOG_SMOOTHING = 0.5
EVENTS = {"win": 1, "top3": 3, "top5": 5, "top10": 10, "top20": 20}
MIN_BIN_RESULTS = 100  # bins of the reliability gap hold at least this many results


def position_probs(finish: np.ndarray, field: int) -> np.ndarray:
    """Simulated finishing positions (scenarios x drivers) -> probabilities (drivers x field)."""
    d = finish.shape[1]
    counts = np.zeros((d, field))
    for j in range(d):
        counts[j] = np.bincount(finish[:, j].astype(np.int64) - 1, minlength=field)[:field]
    return counts / finish.shape[0]


def crps_positions(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RPS / CRPS of integer positions: sum_k (F(k) - 1{y <= k})^2, one value per row."""
    cdf = np.cumsum(probs, axis=1)
    k = np.arange(1, probs.shape[1] + 1)[None, :]
    return ((cdf - (np.asarray(y)[:, None] <= k)) ** 2).sum(axis=1)


def log_score_positions(counts: np.ndarray, y: np.ndarray, a: float = LOG_SMOOTHING) -> np.ndarray:
    """log p~(y), p~ = (count + a) / (N + a F) from simulated counts (rows: drivers)."""
    n = counts.sum(axis=1)
    f = counts.shape[1]
    c = counts[np.arange(len(y)), np.asarray(y) - 1]
    return np.log((c + a) / (n + a * f))


def quantile_positions(probs: np.ndarray, q: float) -> np.ndarray:
    """The smallest position k with F(k) >= q, per row."""
    cdf = np.cumsum(probs, axis=1)
    return np.argmax(cdf >= q - 1e-12, axis=1) + 1


def randomized_pit(probs: np.ndarray, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """u = F(y - 1) + v (F(y) - F(y - 1)) for integer outcomes (Czado, Gneiting and Held 2009)."""
    cdf = np.concatenate([np.zeros((len(probs), 1)), np.cumsum(probs, axis=1)], axis=1)
    y = np.asarray(y)
    lo = cdf[np.arange(len(y)), y - 1]
    hi = cdf[np.arange(len(y)), y]
    return np.clip(lo + v * (hi - lo), 0.0, 1.0)


def coverage_inclusive(probs: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    lo = quantile_positions(probs, (1 - level) / 2)
    hi = quantile_positions(probs, (1 + level) / 2)
    return (lo <= y) & (y <= hi)


def coverage_pit(pit: np.ndarray, level: float) -> np.ndarray:
    return np.abs(pit - 0.5) <= level / 2


def pit_histogram(pit: np.ndarray, bins: int = 10) -> list[float]:
    """Share of PIT values per bin (1 / bins each under calibration)."""
    h, _ = np.histogram(pit, bins=bins, range=(0, 1))
    return (h / max(len(pit), 1)).tolist()


def reliability(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> dict:
    """Forecast probability bins against observed frequencies, and the Brier score."""
    prob = np.asarray(prob, dtype=float)
    outcome = np.asarray(outcome, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(prob, edges) - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if m.any():
            rows.append({"bin": [float(edges[b]), float(edges[b + 1])], "n": int(m.sum()),
                         "forecast": float(prob[m].mean()), "observed": float(outcome[m].mean())})
    return {"bins": rows, "brier": float(np.mean((prob - outcome) ** 2)), "base_rate": float(outcome.mean()), "n": int(len(prob))}


def reliability_summary(prob: np.ndarray, outcome: np.ndarray, bins: int = 10, min_n: int = MIN_BIN_RESULTS) -> dict:
    """The reliability of one binary event as numbers: the largest |forecast - observed| over the
    bins holding at least ``min_n`` results (None when no bin does), with that bin; the Brier
    score, the base rate's (b (1 - b)) and the Brier skill score against it."""
    r = reliability(prob, outcome, bins)
    big = [b for b in r["bins"] if b["n"] >= min_n]
    worst = max(big, key=lambda b: abs(b["forecast"] - b["observed"])) if big else None
    ref = r["base_rate"] * (1 - r["base_rate"])
    return {"max_gap": None if worst is None else round(abs(worst["forecast"] - worst["observed"]), 4),
            "max_gap_bin": None if worst is None else {"forecast": round(worst["forecast"], 4), "observed": round(worst["observed"], 4),
                                                        "n": worst["n"]},
            "bins_counted": len(big), "brier": round(r["brier"], 5), "brier_base_rate": round(ref, 5),
            "brier_skill": round(1 - r["brier"] / ref, 4) if ref > 0 else None, "base_rate": round(r["base_rate"], 4), "n": r["n"]}


def crps_points(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ensemble CRPS of fantasy points (samples: drivers x scenarios)."""
    return np.asarray(_scoringrules().crps_ensemble(np.asarray(y, dtype=float), np.asarray(samples, dtype=float),
                                                    estimator="int", backend="numpy"))


def _scoringrules():
    """scoringrules on its numpy backend, imported when first needed. With numba installed (the
    simulator's kernels), scoringrules 0.10 compiles its numba scoring functions when imported,
    about 3 s per process, for a backend Pitwall does not use: it is imported with numba hidden,
    so it registers the numpy backend only (the one its results were checked with)."""
    import sys

    if "scoringrules" not in sys.modules:
        numba = sys.modules.get("numba")
        sys.modules["numba"] = None  # `import numba` raises ImportError inside scoringrules
        try:
            import scoringrules  # noqa: F401
        finally:
            if numba is None:
                del sys.modules["numba"]
            else:
                sys.modules["numba"] = numba
    return sys.modules["scoringrules"]


def coverage_points(samples: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    lo = np.quantile(samples, (1 - level) / 2, axis=1)
    hi = np.quantile(samples, (1 + level) / 2, axis=1)
    return (lo <= y) & (y <= hi)
