"""Real contests against Pitwall's field model: the projection of a contest's slate, the field
model fitted on imported contests (ownership sharpness and points weight, field strength), its
leave-one-contest-out check, and the post-race review of one contest.

* Projection: the slate simulated before the race (PROJECTION_RACES races, seed 0, the series'
  model): each driver's mean DraftKings points. It is computed once when a contest is imported
  and stored with it, so a fit never depends on when it runs.
* Field strength fit: each real field's mean lineup percentile among the legal lineups by
  projected points (engine.dfs.contest.field.lineup_percentiles), averaged over the contests.
* Ownership fit: with that strength, the (sharpness, points weight) of
  engine.dfs.contest.field.default_ownership minimising the mean absolute error of ownership
  (percentage points, every driver of the slate who can race) over the contests, on a grid
  (GRID_SHARPNESS x GRID_WEIGHT) refined around its best point.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.dfs.contest.field import (
    SALARY_FLOOR,
    Field,
    FieldModel,
    default_ownership,
    legal_lineups,
    lineup_percentiles,
    model_field,
    strength_tilt,
)
from engine.dfs.contest.payouts import Payouts
from engine.dfs.contest.simulate import lineup_matrix, simulate_contest
from engine.dfs.contest.standings import (
    MIN_CONTESTS,
    ROSTER,
    Standings,
    StoredContest,
    contests_dir,
    load_contests,
)

PROJECTION_RACES = 2000
GRID_SHARPNESS = tuple(round(0.2 * k, 1) for k in range(1, 11))
GRID_WEIGHT = tuple(round(0.2 * k, 1) for k in range(0, 6))
QUANTILES = (5, 25, 50, 75, 95, 99)


def simulated_points(slate, races: int = PROJECTION_RACES, seed: int = 0) -> np.ndarray:
    """DraftKings points of the slate's drivers over simulated races (races x drivers), from the
    series' model; drivers out of the race score 0."""
    from engine.model.field import prepare
    from engine.model.scenarios import simulate

    inputs = prepare(slate)
    sims = simulate(inputs, races, seed)
    return sims.dk[sims.valid][:, : len(slate.drivers)].astype(float)


@dataclass
class ContestFacts:
    """What the fits need of one contest: its slate's salaries, who could race, the legal lineups
    (the field's floor to the cap), the projection, and the real ownership and lineups."""

    contest_id: str
    salary: np.ndarray
    racing: np.ndarray
    legal: np.ndarray
    projection: np.ndarray
    ownership: np.ndarray
    lineups: np.ndarray

    @classmethod
    def of(cls, c: StoredContest) -> "ContestFacts":
        st = c.standings
        salary = np.array([d.salary or 0 for d in st.slate.drivers], np.int64)
        racing = np.array([not d.out for d in st.slate.drivers]) & (salary > 0)
        proj = c.projection if c.projection is not None else simulated_points(st.slate).mean(axis=0)
        legal = legal_lineups(salary, racing, ROSTER, st.slate.salary_cap or 50_000, SALARY_FLOOR["dk"])
        return cls(st.contest_id, salary, racing, legal, proj, st.ownership, st.lineups)


    def _parts(self):
        """Per legal lineup (of drivers who can race): its summed standardized points and value, and its percentile."""
        if getattr(self, "_cache", None) is None:
            ok = self.racing
            sd = lambda x: x[ok].std() or 1.0  # noqa: E731
            pts = (self.projection - self.projection[ok].mean()) / sd(self.projection)
            value = 1000 * self.projection / np.where(self.salary > 0, self.salary, 1)
            val = (value - value[ok].mean()) / sd(value)
            legal = self.legal[ok[self.legal].all(axis=1)]
            self._cache = (legal, pts[legal].sum(axis=1), val[legal].sum(axis=1), lineup_percentiles(legal, self.projection), {})
        return self._cache

    def mae(self, sharpness: float, points_weight: float, strength: float | None) -> float:
        """Ownership MAE of the model (sharpness, points weight, strength): what default_ownership
        computes, from the cached lineup sums (memoised)."""
        legal, a, b, q, memo = self._parts()
        key = (round(sharpness, 4), round(points_weight, 4), None if strength is None else round(strength, 6))
        if key not in memo:
            logit = sharpness * (points_weight * a + (1 - points_weight) * b)
            if strength is not None:
                logit = logit + strength_tilt(logit, q, strength) * q
            p = np.exp(logit - logit.max())
            p /= p.sum()
            own = np.round(100 * np.bincount(legal.ravel(), weights=np.repeat(p, legal.shape[1]), minlength=len(self.salary)), 2)
            memo[key] = float(np.abs(own - self.ownership)[self.racing].mean())
        return memo[key]

    def strength(self) -> float:
        """The real field's mean lineup percentile among the legal lineups by projected points."""
        legal_proj = np.sort(self.projection[self.legal].sum(axis=1))
        real = self.projection[self.lineups].sum(axis=1)
        return float(np.mean(np.searchsorted(legal_proj, real, side="left") / max(len(legal_proj) - 1, 1)).clip(0, 1))


def fit_ownership(facts: list[ContestFacts], strength: float | None) -> tuple[float, float, float]:
    """(sharpness, points weight, mean ownership MAE) minimising the mean MAE over the contests,
    with the field strength given: a coarse grid (GRID_SHARPNESS x GRID_WEIGHT), then its best
    point's neighbours at half the step."""
    def loss(s, w):
        return float(np.mean([f.mae(s, w, strength) for f in facts]))

    best = min(((loss(s, w), s, w) for s in GRID_SHARPNESS for w in GRID_WEIGHT))
    _, s0, w0 = best
    fine = [(loss(s, w), s, w) for s in (s0 - 0.1, s0, s0 + 0.1) for w in (w0 - 0.1, w0, w0 + 0.1) if s > 0 and 0 <= w <= 1]
    mae, s, w = min(fine + [best])
    return round(s, 2), round(w, 2), mae


def fit_field_model(contests: list[StoredContest]) -> FieldModel:
    """The field model fitted on imported contests (see the module docstring)."""
    return _fit(([ContestFacts.of(c) for c in contests]))[0]


def _fit(facts: list[ContestFacts]) -> tuple[FieldModel, float]:
    strength = round(float(np.mean([f.strength() for f in facts])), 4)
    s, w, mae = fit_ownership(facts, strength)
    return FieldModel(sharpness=s, points_weight=w, strength=strength, source="fitted", contests=len(facts)), mae


def ownership_report(contests: list[StoredContest], progress=None) -> dict:
    """`pitwall ownership fit`: the fitted parameters, the leave-one-contest-out ownership MAE of
    the fitted model against the default assumption, each real field's strength, and each
    field's score distribution (the real lineups and a field drawn from the fitted model, scored
    over the same simulated races) -- quantiles of entry points."""
    step = progress or (lambda f: None)
    facts = [ContestFacts.of(c) for c in contests]
    step(0.2)
    fitted, mae = _fit(facts)
    assumed = FieldModel()
    loo = []
    for k, f in enumerate(facts):
        others = facts[:k] + facts[k + 1:]
        if not others:
            break
        m, _ = _fit(others)
        loo.append({"contest_id": f.contest_id, "fitted_on_others": {"sharpness": m.sharpness, "points_weight": m.points_weight,
                                                                     "strength": m.strength},
                    "mae_fitted": round(f.mae(m.sharpness, m.points_weight, m.strength), 3),
                    "mae_assumption": round(f.mae(assumed.sharpness, assumed.points_weight, assumed.strength), 3)})
        step(0.2 + 0.6 * (k + 1) / len(facts))
    scores = []
    for c, f in zip(contests, facts):
        P = simulated_points(c.standings.slate, 500, 1)
        fld = model_field(f.projection, f.salary, f.racing, ROSTER, 50_000, SALARY_FLOOR["dk"], c.standings.size, 1, lineups=f.legal,
                          model=fitted)
        scores.append({"contest_id": f.contest_id, **field_scores(P, f.lineups, fld)})
    step(1.0)
    return {"model": fitted.as_dict(), "description": fitted.describe(), "in_sample_mae": round(mae, 3),
            "strength_by_contest": {f.contest_id: round(f.strength(), 4) for f in facts},
            "leave_one_out": loo,
            "leave_one_out_mean": ({"fitted": round(float(np.mean([r["mae_fitted"] for r in loo])), 3),
                                    "assumption": round(float(np.mean([r["mae_assumption"] for r in loo])), 3)} if loo else None),
            "field_scores": scores, "contests": [c.standings.contest_id for c in contests]}


def field_scores(P: np.ndarray, real_lineups: np.ndarray, fld: Field) -> dict:
    """Quantiles of entry points over the simulated races: the real field's lineups against a
    simulated field's (both scored in the same races)."""
    real = P @ lineup_matrix(np.sort(real_lineups, axis=1), P.shape[1])
    sim = (P @ lineup_matrix(fld.lineups, P.shape[1]))
    w = np.broadcast_to(fld.counts, sim.shape).ravel()
    order = np.argsort(sim.ravel())
    cum = np.cumsum(w[order]) / w.sum()
    simq = [float(sim.ravel()[order][np.searchsorted(cum, q / 100)]) for q in QUANTILES]
    return {"quantiles": list(QUANTILES), "real_field": [round(float(v), 1) for v in np.percentile(real, QUANTILES)],
            "simulated_field": [round(v, 1) for v in simq]}


# ----------------------------------------------------------------------------- the model in use
def field_model_in_use(state_dir: Path | str, series: str = "cup") -> tuple[FieldModel, str]:
    """The field model a contest uses: fitted on the series' imported contests once there are at
    least MIN_CONTESTS (kept in contests/field_model.json, refitted when the contests change),
    else the assumption; and a sentence saying which."""
    contests = load_contests(state_dir, series)
    if len(contests) < MIN_CONTESTS:
        why = (f"{len(contests)} imported contest(s), fewer than the {MIN_CONTESTS} a fit needs" if contests
               else "no imported contests")
        return FieldModel(), f"{FieldModel().describe()} ({why})"
    path = contests_dir(state_dir, series) / "field_model.json"
    ids = sorted(c.standings.contest_id for c in contests)
    stamp = [c.path.stat().st_mtime_ns for c in sorted(contests, key=lambda c: c.standings.contest_id)]
    if path.exists():
        kept = json.loads(path.read_text())
        if kept.get("contests") == ids and kept.get("stamps") == stamp:
            m = kept["model"]
            model = FieldModel(m["sharpness"], m["points_weight"], m["strength"], "fitted", m["contests"])
            return model, model.describe()
    model = fit_field_model(contests)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"contests": ids, "stamps": stamp, "model": model.as_dict()}, indent=1))
    tmp.replace(path)
    return model, model.describe()


def review_model(state_dir: Path | str, series: str, contest_id: str) -> tuple[FieldModel, str]:
    """The field model a review of a contest uses: never one fitted on that contest (the review is
    of what Pitwall projected before the race): fitted on the other imported contests when there
    are enough, else the assumption; or the model in use when the contest is not imported."""
    stored = load_contests(state_dir, series)
    others = [c for c in stored if c.standings.contest_id != contest_id]
    if len(others) == len(stored):
        return field_model_in_use(state_dir, series)
    if len(others) >= MIN_CONTESTS:
        model = fit_field_model(others)
        return model, model.describe() + " (fitted without this contest)"
    model = FieldModel()
    return model, model.describe() + (f" (this contest is one of the imported ones and the other {len(others)} are fewer than "
                                      f"{MIN_CONTESTS}: the assumption keeps the review out of sample)")


# ----------------------------------------------------------------------------- post-race review
def review_contest(st: Standings, P: np.ndarray, payouts: Payouts, model: FieldModel, mine: np.ndarray | None = None,
                   mine_points: np.ndarray | None = None, seed: int = 0) -> dict:
    """What happened against what Pitwall projected before the race (see `pitwall contest review`).

    ``P``: DraftKings points over simulated races (races x slate drivers), the pre-race projection.
    ``mine``: the user's lineups (sorted driver indices), with their real points when known."""
    salary = np.array([x.salary or 0 for x in st.slate.drivers], np.int64)
    racing = np.array([not x.out for x in st.slate.drivers]) & (salary > 0)
    cap = st.slate.salary_cap or 50_000
    floor = SALARY_FLOOR["dk"]
    legal = legal_lineups(salary, racing, ROSTER, cap, floor)
    proj = P.mean(axis=0)
    projected = default_ownership(proj, salary, racing, ROSTER, cap, floor, legal, model)
    names = [x.name for x in st.slate.drivers]
    miss = projected - st.ownership
    order = np.argsort(-np.abs(miss))
    own = {"mae": round(float(np.abs(miss)[racing].mean()), 2),
           "largest_misses": [{"driver": names[k], "projected": round(float(projected[k]), 1), "actual": round(float(st.ownership[k]), 1)}
                              for k in order[:8]],
           "model": model.describe()}
    real_lineups = st.lineups
    fld = model_field(proj, salary, racing, ROSTER, cap, floor, st.size, seed, names, legal, model)
    scores = field_scores(P, real_lineups, fld)
    scores["real_result"] = [round(float(v), 1) for v in np.percentile(st.entries["points"].to_numpy(), QUANTILES)]
    sim_dup = {"unique_lineups": int(len(fld.counts)), "max_duplicates": int(fld.counts.max()),
               "share_duplicated": round(float(fld.counts[fld.counts > 1].sum() / fld.size), 4)}
    out = {"contest": st.summary(), "ownership": own, "field_points": scores,
           "duplicates": {"real": st.duplicates(), "simulated": sim_dup}, "field_model": model.as_dict()}
    if mine is not None and len(mine):
        mine = np.sort(np.asarray(mine, np.int64), axis=1)
        modelled = model_field(proj, salary, racing, ROSTER, cap, floor, st.size - len(mine), seed, names, legal, model)
        out["mine"] = _review_mine(st, P, payouts, mine, mine_points, modelled, names)
    return out


def _review_mine(st: Standings, P: np.ndarray, payouts: Payouts, mine: np.ndarray, mine_points, modelled: Field, names) -> dict:
    """The user's lineups: the real result against Pitwall's pre-race distribution, and the same
    lineups replayed over the simulated races against the real field and the modelled one."""
    pts = P @ lineup_matrix(mine, P.shape[1])
    real_points = (mine_points if mine_points is not None else
                   np.nansum(np.where(np.isnan(st.fpts), 0.0, st.fpts)[mine], axis=1))
    field_points = st.entries["points"].to_numpy()
    rows = []
    for k, lu in enumerate(mine):
        rp = float(real_points[k])
        rows.append({"drivers": [names[i] for i in lu], "real_points": round(rp, 2),
                     "real_rank": int((field_points > rp + 1e-9).sum()) + 1,
                     "pre_race_mean": round(float(pts[:, k].mean()), 1),
                     "pre_race_percentile_of_real": round(100 * float((pts[:, k] < rp).mean()), 1)})
    # the real field without the user's own entries, as a field of unique lineups and their counts
    real = st.lineups
    left = Counter(map(tuple, mine.tolist()))  # the user's own entries leave the real field once each
    keep = np.ones(len(real), bool)
    for i, r in enumerate(map(tuple, real.tolist())):
        if left[r] > 0:
            keep[i] = False
            left[r] -= 1
    uniq, counts = np.unique(real[keep], axis=0, return_counts=True)
    real_field = Field(uniq, counts, modelled.target, modelled.realized, modelled.weights, 0)
    vs_real = simulate_contest(P, mine, real_field, payouts).portfolio()
    vs_model = simulate_contest(P, mine, modelled, payouts).portfolio()
    rows.sort(key=lambda r: -r["real_points"])
    return {"lineups": rows, "replay_vs_real_field": vs_real, "replay_vs_modelled_field": vs_model}
