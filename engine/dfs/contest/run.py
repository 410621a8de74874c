"""A contest on an optimize run: the ownership targets, the field, the lineups entered, the
contest over the run's races (in blocks, for Dask tasks) and the JSON-ready summary."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.dfs.contest.field import (
    FIELD_METHOD,
    SALARY_FLOOR,
    Field,
    FieldModel,
    legal_lineups,
    model_field,
    ownership_targets,
    sample_field,
)
from engine.dfs.contest.payouts import ContestError, Payouts
from engine.dfs.contest.simulate import (
    SELECT_METHOD,
    ContestResult,
    candidate_pool,
    lineup_matrix,
    select_lineups,
    simulate_contest,
)


@dataclass
class ContestSetup:
    """What a contest's race blocks need (the field, the entered lineups, the payouts) and what
    its summary reports beyond the results (notes, selection)."""

    size: int
    entry_fee: float
    payouts: Payouts
    seed: int
    floor: int
    fld: Field
    user: np.ndarray
    optimizer_lineups: np.ndarray
    notes: list[str]
    selection: dict | None = None
    model: FieldModel = FieldModel()
    untilted: Field | None = None  # the same field without the strength tilt (its ROI shows the tilt's effect)


def prepare_contest(run, size: int, entry_fee: float, payouts: Payouts, seed: int, floor: int | None = None,
                    ownership: dict[str, float] | None = None, max_entries: int | None = None, select: bool = False,
                    max_exposure: float = 1.0, progress=None, field_model: FieldModel | None = None) -> ContestSetup:
    """Check the contest, set the ownership targets, draw the field (with the field model's
    strength tilt, and without it for comparison) and (``select``) choose the lineups;
    ``progress`` hears each phase as it starts (legal lineups, ownership, field, selection).
    ``field_model``: the ownership model and field strength (default: the stated assumption)."""
    model = field_model or FieldModel()
    step = progress or (lambda f: None)
    step(0.0)
    p = run.portfolio.problem
    site = run.settings.site.value
    floor = SALARY_FLOOR[site] if floor is None else int(floor)
    if floor > p.cap:
        raise ContestError(f"salary floor ${floor:,} is above the ${p.cap:,} cap")
    n_user = len(run.portfolio.lineups)
    if max_entries is not None and n_user > max_entries:
        raise ContestError(f"{n_user} lineups are more than the contest's {max_entries} entries per user")
    if payouts.size != size:
        raise ContestError(f"the payout table is for {payouts.size:,} entries, the contest has {size:,}")
    n_field = size - n_user
    if n_field < 1:
        raise ContestError(f"a contest of {size:,} entries leaves no field for {n_user} lineups")
    unknown = sorted(set(ownership or {}) - set(p.ids))
    if unknown:
        raise ContestError(f"ownership given for driver(s) not on the slate: {', '.join(unknown)}")
    P = run.points
    racing = np.array([k not in p.excludes for k in range(p.n)]) & (p.salary > 0)
    lineups = legal_lineups(p.salary, racing, p.roster, p.cap, floor)
    step(0.25)
    # the slate's own-% column first (edited in the app, saved in the slate JSON), then what was given here
    merged = {d.driver_id: 100 * d.projected_ownership for d in run.slate.drivers if d.projected_ownership is not None}
    merged.update(ownership or {})
    given = {p.ids.index(i): float(v) for i, v in merged.items() if i in p.ids}
    mean = P.mean(axis=0)

    def draw(m: FieldModel) -> tuple[Field, list[str]]:
        if given:  # the analyst's ownerships, the model's elsewhere: the maximum-entropy field of the merged targets
            targets, said = ownership_targets(mean, p.salary, racing, p.roster, p.cap, floor, given, lineups, m)
            return sample_field(targets, p.salary, p.roster, p.cap, floor, n_field, seed, list(p.names), lineups, mean), said
        return model_field(mean, p.salary, racing, p.roster, p.cap, floor, n_field, seed, list(p.names), lineups, m), []

    step(0.4)
    fld, notes = draw(model)
    untilted = None
    if model.strength is not None and len(given) < int(racing.sum()):
        untilted, _ = draw(replace(model, strength=None))
    elif model.strength is not None:
        notes.append("field strength does not apply: every driver's ownership is given, and a field's strength follows from its "
                     "ownership")
    step(0.7 if select else 1.0)
    optimizer_lineups = np.array([sorted(lu.members) for lu in run.portfolio.lineups])
    user, selection = optimizer_lineups, None
    if select:
        pool = candidate_pool(P, fld, optimizer_lineups, seed)
        user = pool[select_lineups(P, pool, fld, payouts, n_user, max_exposure, seed=seed)]
        selection = {"method": SELECT_METHOD, "candidates": int(len(pool)), "max_exposure": max_exposure}
        step(1.0)
    return ContestSetup(size, float(entry_fee), payouts, int(seed), floor, fld, user, optimizer_lineups, notes, selection, model,
                        untilted)


def contest_block(run, setup: ContestSetup, block: int, blocks: int, which: str = "user", progress=None,
                  cancel=None) -> ContestResult | None:
    """The contest over block ``block`` of ``blocks`` equal runs of the simulated races (one Dask
    task each for a large contest); ``which``: the entered lineups, or the optimizer's ("base")."""
    P = run.points
    lo, hi = block * len(P) // blocks, (block + 1) * len(P) // blocks
    lineups = setup.optimizer_lineups if which == "base" else setup.user
    fld = setup.untilted if which == "untilted" else setup.fld
    if fld is None:  # no untilted field (every ownership given): nothing to compare
        return None
    return simulate_contest(P[lo:hi], lineups, fld, setup.payouts, progress=progress, cancel=cancel)


def merge_results(parts: list[ContestResult]) -> ContestResult:
    """One result from the results of consecutive race blocks (in order)."""
    first = parts[0]
    return ContestResult(first.payouts, np.concatenate([r.user_payout for r in parts]), np.concatenate([r.user_place for r in parts]),
                         np.concatenate([r.field_paid for r in parts]), np.concatenate([r.total_paid for r in parts]),
                         first.duplicates, first.field_size)


def contest_summary(run, setup: ContestSetup, res: ContestResult, base: ContestResult | None = None,
                    untilted: ContestResult | None = None) -> dict:
    """The JSON-ready contest result (see ``pitwall contest``)."""
    p = run.portfolio.problem
    P, fld, payouts, user = run.points, setup.fld, setup.payouts, setup.user
    metrics = res.lineup_metrics()
    points = P @ lineup_matrix(user, P.shape[1])
    out = {
        "contest": {"size": setup.size, "entry_fee": setup.entry_fee, "payout_total": round(payouts.total, 2), "payouts": payouts.name,
                    "paid_places": payouts.paid_places, "salary_floor": setup.floor, "races": int(P.shape[0]), "seed": setup.seed},
        "field": {"lineups": fld.size, "unique_lineups": int(len(fld.counts)), "max_duplicates": int(fld.counts.max()),
                  "mean_profit": res.field_mean_profit(), "method": FIELD_METHOD, "ownership_model": setup.model.describe(),
                  "ownership": [{"driver_id": p.ids[k], "name": p.names[k], "target": round(float(fld.target[k]), 2),
                                 "realized": round(float(fld.realized[k]), 2)} for k in np.argsort(-fld.target)],
                  "notes": setup.notes + fld.notes},
        "portfolio": res.portfolio(),
        "lineups": [{"drivers": [p.names[i] for i in lu], "driver_ids": [p.ids[i] for i in lu],
                     "salary": int(p.salary[lu].sum()), "mean_points": round(float(points[:, k].mean()), 2), **m}
                    for k, (lu, m) in enumerate(zip(user.tolist(), metrics))],
        "payout_table": payouts.rows(),
        "field_strength": field_strength(setup, res, untilted),
    }
    if setup.selection is not None:
        out["selection"] = {**setup.selection, "optimizer_portfolio": base.portfolio() if base is not None else None}
    return out


def field_strength(setup: ContestSetup, res: ContestResult, untilted: ContestResult | None) -> dict:
    """Which field model the contest used (source and parameters) and the tilt's effect: the
    field's mean lineup percentile with and without it, and the portfolio's ROI against each."""
    out = {**setup.model.as_dict(), "description": setup.model.describe(),
           "realized_strength": None if setup.fld.strength is None else round(setup.fld.strength, 4)}
    if setup.untilted is not None:
        out["untilted_strength"] = round(float(setup.untilted.strength), 4)
    if untilted is not None:
        pf, pu = res.portfolio(), untilted.portfolio()
        out.update(roi=pf["roi"], roi_without_tilt=pu["roi"], mean_profit=pf["mean_profit"], mean_profit_without_tilt=pu["mean_profit"])
    return out


def run_contest(run, size: int, entry_fee: float, payouts: Payouts, seed: int, floor: int | None = None,
                ownership: dict[str, float] | None = None, max_entries: int | None = None, select: bool = False,
                max_exposure: float = 1.0, progress=None, cancel=None, field_model: FieldModel | None = None) -> dict:
    """The contest of an optimize run's lineups (the user's entries) against a field drawn from
    ownership, over the run's simulated races, in this process; JSON-ready (see ``pitwall
    contest``). ``ownership``: driver id -> percent for the drivers the analyst set. ``select``:
    the entered lineups are chosen for the contest (SELECT_METHOD, from a pool of the
    optimizer's lineups, per-race optimal lineups and field-like ones) instead of the
    optimizer's; the optimizer's portfolio is simulated too, for comparison. engine.jobs.tasks runs
    the same steps as Dask tasks (a task per block of races for large contests)."""
    step = progress or (lambda f: None)
    setup = prepare_contest(run, size, entry_fee, payouts, seed, floor, ownership, max_entries, select, max_exposure,
                            progress=lambda f: step(0.2 * f), field_model=field_model)
    kinds = ["user"] + (["base"] if select else []) + (["untilted"] if setup.untilted is not None else [])
    done = {}
    for k, which in enumerate(kinds):
        done[which] = contest_block(run, setup, 0, 1, which, cancel=cancel,
                                    progress=lambda f, k=k: step(0.2 + 0.8 * (k + f) / len(kinds)))
    return contest_summary(run, setup, done["user"], done.get("base"), done.get("untilted"))
