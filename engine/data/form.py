"""Driver form: the per-driver defaults of a slate (skill, aggression, shadow risk) from the races
before it, and the skill of a driver new to a series from his races in another.

How each default is derived (driver d, the target race T, history H = races before T):

* window: d's races among the last ``WINDOW`` = 108 races of H's series (three Cup seasons), each
  weighted w = 0.5 ** (age / ``HALF_LIFE``), age counted in races back from the last race
  of H (half-life 36 races, one season: chosen by the 2022-2024 rolling-origin backtest over 18 and 54);
* performance in a race d finished running: p = (1 - w_r) (1 - (finish - 1) / (field - 1))
  + w_r rating_pct, the mean of the finishing percentile and the percentile of d's NASCAR
  driver rating in that race (w_r = RATING_WEIGHT = 0.5; the rating also counts running
  position, laps led and fastest laps, so it is a less noisy measure of pace);
* skill: first ``s_all`` = (sum w p + K_SKILL m0) / (sum w + K_SKILL) over running finishes,
  with m0 the mean finishing percentile of drivers' first three starts in H (the newcomer prior) and
  K_SKILL = 2; then the same at T's track type, shrunk towards s_all:
  skill = (sum_type w p + K_TYPE s_all) / (sum_type w + K_TYPE), K_TYPE = 3;
* shadow_risk: the driver's own DNF rate, (sum w dnf + K_DNF q) / (sum w + K_DNF) with q the
  DNF rate of all drivers in the window and K_DNF = 10;
* aggression: the mean of two percentile ranks within the slate's field: the driver's spread
  (weighted RMS of p - skill over running finishes, shrunk like skill) and the driver's
  accident rate (status "accident", shrunk like shadow_risk); 0.5 without history;
* laps-led bounds: 0 and the race length (no conditioning);
* race length: the scheduled laps when the source has them (2022 on; a pre-race fact), else
  the most common laps of the last four races at the track in H.

Drivers without a race of the series in the window take their skill from another series
(``borrowed_skills``) or get the newcomer prior; the slate's notes say which, and their values
are listed in ``estimated``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.contracts import SlateDriver
from engine.data.history import History

WINDOW = 108
HALF_LIFE = 36.0
K_SKILL = 2.0
K_TYPE = 3.0
K_DNF = 10.0
RATING_WEIGHT = 0.5
DERIVED = ("skill", "aggression", "shadow_risk")
MIN_CROSSOVER = 8
MIN_CROSS_RACES = 3


def newcomer_prior(hist: History) -> float:
    """m0: the mean finishing percentile of drivers' first three starts in ``hist`` (its series)."""
    first = hist.results.sort_values(["season", "race"]).groupby("driver_id").head(3)
    first_field = hist.results.groupby("race_id")["finish"].transform("size").loc[first.index]
    return float(np.mean(1.0 - (first["finish"] - 1) / (first_field - 1)))


def derive_driver_params(hist: History, driver_ids: list[str], track_type: str | None, until=None,
                         borrow: bool | None = None) -> pd.DataFrame:
    """Per-driver defaults (skill, aggression, shadow_risk, history_races) from ``hist`` only.

    Returns one row per requested driver id, indexed by driver_id (see the module docstring).
    A driver with no race of this series in the window takes his skill from another series
    (``borrowed_skills``: races before ``until``, default the day after ``hist``'s last race)
    when ``hist.cross_series`` (or ``borrow``) says so: ``borrowed_from`` names that series
    ("" for none: the newcomer prior) and ``borrowed_races`` counts his races there."""
    out = _own_params(hist, driver_ids, track_type)
    out["borrowed_from"], out["borrowed_races"] = "", 0
    borrow = hist.cross_series if borrow is None else borrow
    new = out.index[out["history_races"] == 0].tolist()
    if borrow and new and len(hist.index):
        got = borrowed_skills(hist, new, track_type, until)
        if len(got):
            out.loc[got.index, "skill"] = got["skill"].round(3)
            out.loc[got.index, "borrowed_from"] = got["from_series"]
            out.loc[got.index, "borrowed_races"] = got["from_races"].astype(int)
    return out


def _window_drivers(hist: History, min_races: int) -> set[str]:
    """Drivers with at least ``min_races`` starts in the last WINDOW races of ``hist``."""
    recent = set(hist.index["race_id"].iloc[-WINDOW:])
    counts = hist.results.loc[hist.results["race_id"].isin(recent), "driver_id"].value_counts()
    return set(counts[counts >= min_races].index)


def borrowed_skills(hist: History, driver_ids: list[str], track_type: str | None, until=None) -> pd.DataFrame:
    """Skills of drivers new to ``hist``'s series, from their races in another series before ``until``.

    For each other series the driver raced in (within its window), his skill there is mapped
    onto this series by a straight line fitted over the crossover drivers (``MIN_CROSS_RACES``
    or more races in both windows; at least ``MIN_CROSSOVER`` of them, else that series is not
    used): a Cup regular's 0.5 in the Cup is worth more in NXS. The series where he has most
    races wins. Columns: skill, from_series, from_races, crossovers; drivers without any are
    left out (they keep the newcomer prior)."""
    day = pd.Timestamp(until) if until is not None else hist.index["date"].max() + pd.Timedelta(days=1)
    key = (hist.series, str(day.date()), track_type, len(hist.index))
    cache = hist.shared.setdefault("borrow_maps", {})
    rows: dict[str, dict] = {}
    for code, other in hist.other_series().items():
        oh = other.before_date(day)
        if not len(oh.index):
            continue
        theirs = _own_params(oh, driver_ids, track_type)
        have = theirs.index[theirs["history_races"] > 0]
        if not len(have):
            continue
        if (key, code) not in cache:
            cross = sorted(_window_drivers(hist, MIN_CROSS_RACES) & _window_drivers(oh, MIN_CROSS_RACES))
            fit = None
            if len(cross) >= MIN_CROSSOVER:
                x = _own_params(oh, cross, track_type)["skill"].to_numpy(float)
                y = _own_params(hist, cross, track_type)["skill"].to_numpy(float)
                fit = (*np.polyfit(x, y, 1), len(cross)) if np.ptp(x) > 0 else None
            cache[(key, code)] = fit
        fit = cache[(key, code)]
        if fit is None:
            continue
        slope, intercept, n = fit
        for did in have:
            races = int(theirs.loc[did, "history_races"])
            if did not in rows or races > rows[did]["from_races"]:
                rows[did] = {"skill": float(np.clip(intercept + slope * theirs.loc[did, "skill"], 0.0, 1.0)), "from_series": code,
                             "from_races": races, "crossovers": n}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["skill", "from_series", "from_races", "crossovers"])


def borrowed_note(hist: History, drivers: list[SlateDriver], params: pd.DataFrame) -> str | None:
    """Which drivers without a race of this series took their skill from another series, and which got the newcomer prior."""
    from engine.core.series import SHORT_NAMES

    new = [d for d in drivers if d.history_races == 0]
    if not new:
        return None
    took = [f"{d.name} ({SHORT_NAMES[params.loc[d.driver_id, 'borrowed_from']]}, {int(params.loc[d.driver_id, 'borrowed_races'])} "
            f"races)" for d in new if params.loc[d.driver_id, "borrowed_from"]]
    prior = [d.name for d in new if not params.loc[d.driver_id, "borrowed_from"]]
    parts = []
    if took:
        parts.append(f"skill from their races in another series, mapped onto {hist.label} form through the drivers who race both: "
                     + ", ".join(took))
    if prior:
        why = ("no race in any series in the window" if hist.cross_series else
               f"the {hist.label} method does not borrow other series' form: its backtest did not keep it")
        parts.append(f"newcomer defaults ({why}): {', '.join(prior)}")
    return f"no earlier {hist.label} races for {len(new)} driver(s): " + "; ".join(parts)


def _own_params(hist: History, driver_ids: list[str], track_type: str | None) -> pd.DataFrame:
    """derive_driver_params from this series' races alone."""
    idx = hist.index
    out = pd.DataFrame(index=pd.Index(driver_ids, name="driver_id"))
    if idx.empty:
        out["skill"], out["shadow_risk"], out["aggression"], out["history_races"] = 0.25, 0.1, 0.5, 0
        return out
    ordinal = pd.Series(np.arange(len(idx)), index=pd.MultiIndex.from_frame(idx[["season", "race"]]))
    res = hist.results
    res = res.assign(ordinal=ordinal.reindex(pd.MultiIndex.from_frame(res[["season", "race"]])).to_numpy())
    last = len(idx) - 1
    res = res[res["ordinal"] > last - WINDOW]
    field = res.groupby("race_id")["finish"].transform("size")
    res = res.assign(
        w=0.5 ** ((last - res["ordinal"]) / HALF_LIFE),
        p=(1 - RATING_WEIGHT) * (1.0 - (res["finish"] - 1) / (field - 1).clip(lower=1))
        + RATING_WEIGHT * res.groupby("race_id")["rating"].rank(pct=True, method="average").fillna(0.5).to_numpy(),
        dnf=(~res["running"]).astype(float),
        acc=res["status"].eq("accident").astype(float),
    )
    types = idx.set_index("race_id")["track_type"]
    res["track_type"] = types.reindex(res["race_id"]).to_numpy()

    m0 = newcomer_prior(hist)
    q_dnf = float(np.average(res["dnf"], weights=res["w"]))
    q_acc = float(np.average(res["acc"], weights=res["w"]))

    mine = res[res["driver_id"].isin(driver_ids)].assign(
        wp=lambda d: d["w"] * d["p"], wdnf=lambda d: d["w"] * d["dnf"], wacc=lambda d: d["w"] * d["acc"]
    )
    zero = pd.Series(0.0, index=driver_ids)
    run = mine[mine["running"]]
    sums = run.groupby("driver_id")[["w", "wp"]].sum().reindex(driver_ids).fillna(0.0)
    s_all = (sums["wp"] + K_SKILL * m0) / (sums["w"] + K_SKILL)
    typ = run[run["track_type"] == track_type].groupby("driver_id")[["w", "wp"]].sum()
    typ = typ.reindex(driver_ids).fillna(0.0) if len(typ) else pd.DataFrame({"w": zero, "wp": zero})
    skill = (typ["wp"] + K_TYPE * s_all) / (typ["w"] + K_TYPE)

    all_sums = mine.groupby("driver_id")[["w", "wdnf", "wacc"]].sum().reindex(driver_ids).fillna(0.0)
    shadow = (all_sums["wdnf"] + K_DNF * q_dnf) / (all_sums["w"] + K_DNF)
    acc = (all_sums["wacc"] + K_DNF * q_acc) / (all_sums["w"] + K_DNF)

    r2 = (run["p"] - s_all.reindex(run["driver_id"]).to_numpy()) ** 2
    league_spread = float(np.sqrt(np.average(r2, weights=run["w"]))) if len(run) else 0.25
    wr2 = (run["w"] * r2).groupby(run["driver_id"]).sum().reindex(driver_ids).fillna(0.0)
    spread = np.sqrt((wr2 + K_SKILL * league_spread**2) / (sums["w"] + K_SKILL))
    has = all_sums["w"] > 0
    aggression = pd.Series(0.5, index=driver_ids)
    if has.sum() > 1:
        ranks = (spread[has].rank(pct=True) + acc[has].rank(pct=True)) / 2.0
        lo, hi = ranks.min(), ranks.max()
        aggression[has] = (ranks - lo) / (hi - lo) if hi > lo else 0.5

    out["skill"] = skill.clip(0, 1).round(3)
    out["aggression"] = aggression.clip(0, 1).round(3)
    out["shadow_risk"] = shadow.clip(0, 1).round(3)
    out["history_races"] = mine.groupby("driver_id").size().reindex(driver_ids).fillna(0).astype(int)
    return out
