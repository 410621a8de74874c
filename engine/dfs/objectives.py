"""What a lineup is worth over the simulated races.

Objectives over the points matrix P (scenarios x drivers), x the 0/1 lineup vector, with the
lineup's score in scenario s being P_s x:

* ``mean``: maximize sum_i mean(P_i) x_i (MILP);
* ``ceiling``: the lineup's 90th percentile score over the scenarios;
* ``cvar`` (cash games): the lower-tail CVaR at alpha = 0.2, the mean of the lineup's worst
  20% of scores (Rockafellar and Uryasev 2000);
* ``target`` (tournaments): the probability of reaching a score T, the share of scenarios
  with P_s x >= T; T defaults to the 90th percentile of the mean-optimal lineup's scores."""

from __future__ import annotations

import numpy as np

from engine.dfs.lineups import OptimizerError
from engine.dfs.optimal import OptimalResult

OBJECTIVES = ("mean", "ceiling", "cvar", "target")
CVAR_ALPHA = 0.2
CEILING_Q = 0.9
TARGET_SURE = 0.99


def objective_values(lineups: np.ndarray, P: np.ndarray, objective: str, target: float | None = None, chunk: int = 256) -> np.ndarray:
    """The objective of each lineup (rows of driver indices) over every scenario of P."""
    if objective == "mean":  # linear: no need to score every scenario
        m = P.mean(axis=0)
        lineups = np.asarray(lineups)
        out = m[lineups[:, 0]] if lineups.shape[1] else np.zeros(len(lineups))
        for c in range(1, lineups.shape[1]):  # column by column, left to right: the sum numpy's row sum of a roster gives
            out = out + m[lineups[:, c]]
        return out
    out = np.empty(len(lineups))
    k_tail = max(1, int(round(CVAR_ALPHA * P.shape[0])))
    Pt = np.ascontiguousarray(P.T, dtype=np.float32)  # drivers x scenarios
    for lo in range(0, len(lineups), chunk):
        block = lineups[lo : lo + chunk]
        scores = Pt[block].sum(axis=1)  # lineups x scenarios
        if objective == "cvar":
            v = np.partition(scores, k_tail - 1, axis=1)[:, :k_tail].mean(axis=1)
        elif objective == "ceiling":
            v = np.percentile(scores, 100 * CEILING_Q, axis=1)
        elif objective == "target":
            v = (scores >= target).mean(axis=1)
        else:
            raise OptimizerError([f"unknown objective {objective!r}: expected one of {', '.join(OBJECTIVES)}"])
        out[lo : lo + chunk] = v
    return out


def check_target(target: float, P: np.ndarray, base: list[int], optimal: "OptimalResult") -> None:
    """A target score the simulated races can tell lineups apart by: one the mean-optimal
    lineup misses in more than 1% of the races (a lower target is reached by it and many
    others almost always: they tie) and at most the best lineup score of any simulated race
    (a higher one no lineup ever reaches)."""
    scores = P[:, base].sum(axis=1)
    lo = float(np.quantile(scores, 1.0 - TARGET_SURE))
    hi = float(optimal.scores.max())
    if target > hi:
        raise OptimizerError([f"target {target:g} is above every simulated lineup score (the best lineup of any of the "
                              f"{len(P):,} simulated races scored {hi:.1f}): no lineup reaches it; choose a target above "
                              f"{lo:.1f} and at most {hi:.1f}"])
    if target <= lo:
        share = float((scores >= target).mean())
        raise OptimizerError([f"target {target:g} is at or below every score that matters: the mean-optimal lineup reaches it in "
                              f"{share:.1%} of the {len(P):,} simulated races, and lineups would tie on it; choose a target "
                              f"above {lo:.1f} and at most {hi:.1f}"])


def rank_order(values: np.ndarray, top: int | None = None, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Pool indices by value, best first; ties by ``tiebreak`` (higher first, e.g. the mean
    points), then by index; only the best ``top`` when given."""
    if top is None or top >= len(values):
        idx = np.arange(len(values))
    else:  # the best ``top``, and every lineup tied with the last of them
        kth = values[np.argpartition(-values, top - 1)[top - 1]]
        idx = np.flatnonzero(values >= kth)
    second = np.zeros(len(idx)) if tiebreak is None else -tiebreak[idx]
    return idx[np.lexsort((idx, second, -values[idx]))]
