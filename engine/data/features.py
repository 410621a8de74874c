"""Pre-race information of a race weekend, as model features: practice and qualifying.

Both are known before the green flag (practice sessions and qualifying come first), so they
may enter a forecast of that race. Each becomes a rank among the race's drivers, and the pace
model uses the centered percentile of that rank,

    f = (1 - (r - 1) / (m - 1)) - 1/2,   r = rank among the m drivers who have one,

so the best is +1/2, the worst -1/2, and a driver without a rank (no practice run, no
qualifying time, or a race without the session) gets 0: the feature then says nothing, and
the forecast is the one without it.

* practice rank: the drivers' order in the weekend's last practice session, by the mean of the
  ranks present among best single lap, best 5-lap average and best 10-lap average (any of
  them may be blank; ``PRACTICE_RANKS`` says which are used);
* qualifying rank: the order of qualifying speeds (the grid itself is ``start``; qualifying
  speed differs from it where groups, rounds, penalties or metric-set grids intervene).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PRACTICE_RANKS = ("best_lap_rank", "avg5_rank", "avg10_rank")


def rank_feature(ranks) -> np.ndarray:
    """Centered percentile of ranks (lower is better) among those present; 0 where missing."""
    r = np.asarray(pd.to_numeric(pd.Series(ranks, dtype="object"), errors="coerce"), dtype=float)
    out = np.zeros(len(r), dtype=np.float64)
    have = ~np.isnan(r)
    m = int(have.sum())
    if m >= 2:
        order = pd.Series(r[have]).rank(method="average").to_numpy()
        out[have] = (1.0 - (order - 1.0) / (m - 1.0)) - 0.5
    return out


def practice_ranks(practice: pd.DataFrame, columns: tuple[str, ...] = PRACTICE_RANKS) -> pd.Series:
    """driver_id -> practice rank (1 = best) of one race's practice rows."""
    if practice is None or not len(practice):
        return pd.Series(dtype="float64")
    score = practice[list(columns)].mean(axis=1, skipna=True)
    score.index = practice["driver_id"].to_numpy()
    score = score.dropna()
    return score.rank(method="first").astype("int64")


def qualifying_ranks(results: pd.DataFrame) -> pd.Series:
    """driver_id -> qualifying rank (1 = fastest) of one race's results (qual_speed; NaN none)."""
    if "qual_speed" not in results:
        return pd.Series(dtype="float64")
    speed = pd.Series(results["qual_speed"].to_numpy(), index=results["driver_id"].to_numpy()).dropna()
    speed = speed[speed > 0]
    return speed.rank(ascending=False, method="first").astype("int64")
