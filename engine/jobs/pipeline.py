"""One optimize run, shared by the CLI, the app and the API: compile the constraints,
simulate, build the portfolio, compute optimal%, and summarize what was estimated."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Literal, get_args

import numpy as np
from pydantic import Field, model_validator

from engine.core.contracts import (
    MAX_CAP,
    MAX_SCENARIOS,
    MIN_SCENARIOS,
    Contract,
    DriverSelection,
    OptimizeResponse,
    Rule,
    ScenarioConfig,
    ScenarioDiagnostics,
    Site,
    Slate,
)
from engine.data.history import TRACK_TYPES
from engine.dfs.constraints import ConstraintCompiler, ConstraintSpec
from engine.dfs.lineups import problem_from_spec
from engine.dfs.objectives import OBJECTIVES
from engine.dfs.ontology import OntologyRepository
from engine.dfs.optimal import OptimalResult, optimal_lineups
from engine.dfs.portfolio import Portfolio, build_portfolio, check_portfolio
from engine.model.field import SimInputs, prepare
from engine.model.scenarios import ScenarioSet, simulate

Objective = Literal["mean", "ceiling", "cvar", "target"]  # engine.dfs.objectives.OBJECTIVES
TrackType = Literal["superspeedway", "intermediate", "large_oval", "one_mile_flat_or_concrete", "short", "road", "dirt"]  # data.TRACK_TYPES


class OptimizeSettings(Contract):
    """What the analyst chose for a run (everything that changes the result)."""

    site: Site = Site.DK
    n_lineups: int = Field(default=20, ge=1, le=500)
    n_scenarios: int = Field(default=10_000, ge=MIN_SCENARIOS, le=MAX_SCENARIOS)
    objective: Objective = "mean"
    seed: int = Field(default=0, ge=0)
    min_unique: int = Field(default=1, ge=0, le=6)
    solver: Literal["cbc", "highs"] = "cbc"
    sim_precision: bool = False
    target: float | None = Field(default=None, allow_inf_nan=False, description="score to reach (objective target)")
    salary_cap: int | None = Field(default=None, gt=0, le=MAX_CAP)
    min_exposure: float | None = Field(default=None, ge=0.0, le=1.0, description="every driver in at least this share of lineups")
    max_exposure: float | None = Field(default=None, ge=0.0, le=1.0, description="every driver in at most this share of lineups")
    optimal_pct: bool = True
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _bounds(self) -> "OptimizeSettings":
        if self.min_exposure is not None and self.max_exposure is not None and self.min_exposure > self.max_exposure:
            raise ValueError(f"min_exposure {self.min_exposure:.0%} is above max_exposure {self.max_exposure:.0%}")
        return self


assert get_args(Objective) == OBJECTIVES and get_args(TrackType) == TRACK_TYPES


@dataclass
class OptimizeRun:
    slate: Slate
    settings: OptimizeSettings
    spec: ConstraintSpec
    inputs: SimInputs
    scenarios: ScenarioSet
    portfolio: Portfolio
    optimal: OptimalResult | None
    seconds: dict[str, float] = field(default_factory=dict)
    estimated: list[str] = field(default_factory=list)
    calibration: dict | None = None  # calibration_metrics from a backtest of the same model (None when not asked)

    @property
    def points(self) -> np.ndarray:
        return self.scenarios.points(self.settings.site)[:, self.columns]

    @property
    def columns(self) -> list[int]:
        return [self.inputs.driver_ids.index(d.driver_id) for d in self.spec.drivers]

    def summary(self) -> dict:
        """JSON-ready: lineups, exposures, optimal%, the spec hash, diagnostics, estimates."""
        p = self.portfolio.problem
        names = dict(zip(p.ids, p.names))
        out = {
            "slate_id": self.slate.slate_id,
            "series": self.slate.series.value,
            "site": self.settings.site.value,
            "objective": self.settings.objective,
            "seed": self.settings.seed,
            "constraint_spec_hash": self.spec.spec_hash,
            "lineups": self.portfolio.lineup_table(),
            "exposures": self.portfolio.exposure_table(),
            "scenario_diagnostics": self.scenarios.diagnostics().model_dump(),
            "model": {"hash": self.inputs.model.hash, "fit_seasons": self.inputs.model.fit_span,
                      "method_hash": self.inputs.model.method_hash},
            "estimated": self.estimated,
            "notes": [n for n in self.spec.notes if not n.startswith("starting positions unknown")]  # in "estimated", named
                     + self.portfolio.notes + ([self.scenarios.warning] if self.scenarios.warning else []),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
        if self.inputs.qualifying_draws:
            miss = 1.0 - self.scenarios.qualified.mean(axis=0)
            out["non_qualifiers"] = sorted(
                ({"driver_id": self.inputs.driver_ids[i], "name": self.inputs.names[i], "miss_pct": round(float(miss[i]), 4)}
                 for i in np.flatnonzero(self.inputs.racing) if miss[i] > 0), key=lambda r: -r["miss_pct"])
        if self.calibration is not None:
            out["calibration_metrics"] = self.calibration
        if self.portfolio.target is not None:
            out["target_score"] = round(self.portfolio.target, 2)
        if self.optimal is not None:
            out["optimal_pct"] = sorted(
                ({"driver_id": p.ids[i], "name": p.names[i], "optimal_pct": round(float(v), 4)}
                 for i, v in enumerate(self.optimal.optimal_pct) if v > 0), key=lambda r: -r["optimal_pct"])
            out["top_optimal_lineups"] = [
                {"drivers": [names[p.ids[i]] for i in lu], "share": round(share, 4)} for lu, share in self.optimal.top_lineups(10)
            ]
            out["optimal_resolved_by_milp"] = self.optimal.resolved_by_milp
        return out


def estimated_values(slate: Slate, spec: ConstraintSpec, inputs: SimInputs | None = None) -> list[str]:
    """Which values of the run were estimated or drawn rather than read from a source."""
    out = []
    starts = [d.name for d in spec.drivers if d.start_estimated]
    if starts and inputs is not None and inputs.grid_draw:
        out.append(f"starting grid unknown for {len(starts)} driver(s), drawn in each simulated race by the qualifying model "
                   f"(skill, practice): {', '.join(starts)}; starting-position rules use the expected order")
    elif starts:
        out.append(f"starting positions estimated from skill for {len(starts)} driver(s): {', '.join(starts)}")
    from engine.core.series import SHORT_NAMES

    label = SHORT_NAMES[slate.series.value]
    borrowed = [f"{d.name or d.driver_id} ({SHORT_NAMES[d.skill_from.value]})" for d in slate.drivers
                if "skill" in d.estimated and d.skill_from is not None]
    if borrowed:
        out.append(f"skill from the driver's races in another series (no {label} race in the window) for {', '.join(borrowed)}")
    for field_name in ("skill", "aggression", "shadow_risk"):
        who = [d.name or d.driver_id for d in slate.drivers if field_name in d.estimated
               and not (field_name == "skill" and d.skill_from is not None)]
        if who:
            out.append(f"{field_name} set to the newcomer prior (no {label} history) for {', '.join(who)}")
    if slate.unmatched:
        out.append(f"not matched to any series' history: {'; '.join(slate.unmatched)}")
    return out


@dataclass
class Prepared:
    """A run after compiling: the spec and the simulator inputs (small: they travel to workers)."""

    spec: ConstraintSpec
    inputs: SimInputs
    seconds: dict[str, float]


def prepare_run(slate: Slate, settings: OptimizeSettings, repository: OntologyRepository, config: ScenarioConfig | None = None,
                model=None) -> Prepared:
    """Compile the constraints and prepare the simulator inputs; refuse, before any simulation,
    what cannot be optimized (no salaries, exposures no portfolio can meet)."""
    t = time.perf_counter()
    spec = ConstraintCompiler(repository).compile(slate, settings.site, settings.rules, salary_cap=settings.salary_cap,
                                                  field_size=config.field_size if config else None,
                                                  min_exposure=settings.min_exposure, max_exposure=settings.max_exposure)
    problem = problem_from_spec(spec)  # no salaries -> fail now, not after simulating
    check_portfolio(problem, settings.n_lineups, settings.min_unique)  # exposures no portfolio can meet -> now
    inputs = prepare(slate, config, spec=spec, model=model)
    return Prepared(spec, inputs, {"compile": time.perf_counter() - t})


def finish_run(slate: Slate, settings: OptimizeSettings, prepared: Prepared, sims: ScenarioSet,
               progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None,
               calibration: tuple[dict | None, str] | None = None) -> OptimizeRun:
    """Optimal% and the portfolio from the simulated races (progress 0-0.25 optimal%, to 1
    lineups). ``calibration``: (metrics, what they are) from ``cached_calibration``, or None."""
    step = progress or (lambda f: None)
    spec, inputs, seconds = prepared.spec, prepared.inputs, dict(prepared.seconds)
    cols = [inputs.driver_ids.index(d.driver_id) for d in spec.drivers]
    points = sims.points(settings.site)[:, cols]
    optimal = None
    if settings.optimal_pct or settings.objective != "mean":
        t = time.perf_counter()
        optimal = optimal_lineups(spec, points, solver=settings.solver, progress=lambda f: step(0.25 * f))
        seconds["optimal_pct"] = time.perf_counter() - t
    t = time.perf_counter()
    portfolio = build_portfolio(spec, points, settings.n_lineups, settings.objective, min_unique=settings.min_unique,
                                solver=settings.solver, seed=settings.seed, sim_precision=settings.sim_precision,
                                target=settings.target, optimal=optimal, progress=lambda f: step(0.25 + 0.75 * f), cancel=cancel)
    seconds["lineups"] = time.perf_counter() - t
    metrics = None
    if calibration is not None:
        metrics, about = calibration
        spec = spec.model_copy(update={"notes": spec.notes + [about]})
    step(1.0)
    return OptimizeRun(slate=slate, settings=settings, spec=spec, inputs=inputs, scenarios=sims, portfolio=portfolio,
                       optimal=optimal, seconds=seconds, estimated=estimated_values(slate, spec, inputs), calibration=metrics)


def run_optimize(slate: Slate, settings: OptimizeSettings, repository: OntologyRepository,
                 progress: Callable[[float], None] | None = None, cancel: Callable[[], bool] | None = None,
                 config: ScenarioConfig | None = None, calibration: bool | tuple = False, model=None) -> OptimizeRun:
    """Compile, simulate, optimize in this process: progress 0-0.05 compile, to 0.6 simulate,
    to 1 optimal% and lineups. ``calibration``: True to attach the calibration metrics of the
    model's method, or (metrics, about) already read."""
    step = progress or (lambda f: None)
    prepared = prepare_run(slate, settings, repository, config, model)
    step(0.05)
    t = time.perf_counter()
    sims = simulate(prepared.inputs, settings.n_scenarios, settings.seed, progress=lambda f: step(0.05 + 0.55 * f), cancel=cancel)
    prepared.seconds["simulate"] = time.perf_counter() - t
    if calibration is True:
        from engine.model.backtest import cached_calibration

        calibration = cached_calibration(prepared.spec.track_type, model=prepared.inputs.model)
    return finish_run(slate, settings, prepared, sims, lambda f: step(0.6 + 0.4 * f), cancel, calibration or None)


def optimize_response(run, run_id: str, calibration_enabled: bool) -> dict:
    """OptimizeResponse from a completed run: the best lineup (diagnostics of the simulated races
    for that lineup, calibration metrics from the backtest, null when disabled), and the whole
    portfolio: every lineup, the exposures, optimal% when it was asked for, the upload file."""
    from engine.core.contracts import DriverExposure, OptimalShare, PortfolioLineup
    from engine.dfs.exports import ExportError, lineups_csv

    p = run.portfolio.problem
    points = run.points.mean(axis=0)

    def drivers(members: list[int]) -> list[DriverSelection]:
        ranked = sorted(members, key=lambda i: -points[i])
        return [DriverSelection(driver_id=p.ids[i], name=p.names[i], salary=int(p.salary[i]), projected_points=round(float(points[i]), 2),
                                position=k + 1) for k, i in enumerate(ranked)]

    best = run.portfolio.lineups[0]
    sim_cols = [run.inputs.driver_ids.index(p.ids[i]) for i in best.members]
    diag = run.scenarios.diagnostics(sim_cols).model_dump()
    diag["calibration_metrics"] = run.calibration if calibration_enabled else None
    lineups = [PortfolioLineup(lineup=k + 1, drivers=drivers(lu.members), salary=lu.salary, mean=round(lu.mean, 2), p10=round(lu.p10, 2),
                               p50=round(lu.p50, 2), p90=round(lu.p90, 2)) for k, lu in enumerate(run.portfolio.lineups)]
    optimal = None
    if run.settings.optimal_pct and run.optimal is not None:
        optimal = [OptimalShare(driver_id=p.ids[i], name=p.names[i], optimal_pct=round(float(v), 4))
                   for i, v in sorted(enumerate(run.optimal.optimal_pct), key=lambda t: -t[1]) if v > 0]
    upload, why = None, None
    try:
        upload = lineups_csv(run.slate, run.settings.site, [[p.ids[i] for i in lu.members] for lu in run.portfolio.lineups])
    except ExportError as exc:
        why = str(exc)
    return OptimizeResponse(
        lineup=drivers(best.members), total_projected_points=round(best.mean, 2), total_salary=best.salary,
        scenario_diagnostics=ScenarioDiagnostics.model_validate(diag), run_id=run_id, status="completed",
        constraint_spec_hash=run.spec.spec_hash, series=run.slate.series, lineups=lineups,
        exposures=[DriverExposure.model_validate(r) for r in run.portfolio.exposure_table()], optimal_pct=optimal,
        upload_csv=upload, upload_csv_unavailable=why,
    ).model_dump(mode="json")
