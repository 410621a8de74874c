"""The work of the jobs, as plans of tasks (engine.jobs.runner runs them on Dask workers, or in the
calling process for the CLI).

A plan is a function of a ``Dispatch`` that returns (summary, object): it names the tasks and
what flows between them; every number comes from the same engine functions the single-process
paths use, so a plan gives the same result wherever its tasks run (tested):

* optimize: one task (compile, simulate, optimize) for ordinary runs; for large ones a compile
  task, one task per chunk of scenario blocks (the block seeding keeps them independent of
  the chunking) and a final optimize task on the assembled races;
* backtest: one task loading the history, one fit per scored season (cached in the state
  directory), one task per race, and a task summarizing the scored races.

Task functions are module-level so that workers import them by name; a task that reports
progress or honours cancel takes (progress, cancel) first (engine.jobs.cluster.TaskChannel).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

SPLIT_SCENARIOS = 200_000  # runs above this simulate in block tasks
CHUNK_SCENARIOS = 50_000  # scenarios per simulation task


# ----------------------------------------------------------------------------- optimize
@lru_cache(maxsize=4)
def _repository(ontology_settings_json: str):
    """The ontology repository of these settings (opened once per worker process)."""
    from engine.core.settings import Settings
    from engine.dfs.ontology import open_with_fallback

    repo, notice = open_with_fallback(Settings.model_validate_json(ontology_settings_json))
    return repo, notice


def _ontology_json(settings) -> str:
    """The part of the Settings the tasks need to open the ontology (what ``_repository`` is cached by)."""
    return settings.model_dump_json(include={"ontology_backend", "neo4j_uri", "neo4j_user", "neo4j_password", "neo4j_timeout_s",
                                             "state_dir"})


def optimize_task(progress, cancel, slate, settings, ontology_settings: str, config, model, calibration, response_id,
                  keep_object: bool):
    """A whole optimize run in one task: (summary or {"response", "summary"}, the run when kept)."""
    from engine.jobs.pipeline import run_optimize

    repo, notice = _repository(ontology_settings)
    run = run_optimize(slate, settings, repo, progress=progress, cancel=cancel, config=config, calibration=calibration or False,
                       model=model)
    return _optimize_result(run, response_id, notice, keep_object, calibration is not None)


def _optimize_result(run, response_id, notice, keep_object: bool, calibration: bool):
    summary = run.summary()
    if notice:
        summary["notes"] = [notice] + summary["notes"]
    if response_id is not None:
        from engine.jobs.pipeline import optimize_response

        summary = {"response": optimize_response(run, response_id, calibration), "summary": summary}
    return summary, (run if keep_object else None)


def prepare_task(slate, settings, ontology_settings: str, config, model):
    from engine.jobs.pipeline import prepare_run

    repo, _ = _repository(ontology_settings)
    return prepare_run(slate, settings, repo, config, model)


def simulate_task(inputs, n_scenarios: int, seed: int, blocks: list[int]):
    from engine.model.scenarios import simulate_blocks

    return blocks[0], simulate_blocks(inputs, n_scenarios, seed, blocks)


def finish_task(progress, cancel, slate, settings, prepared, parts, ontology_settings: str, calibration, response_id,
                keep_object: bool):
    from engine.jobs.pipeline import finish_run
    from engine.model.scenarios import assemble

    sims = assemble(prepared.inputs, settings.n_scenarios, settings.seed, list(parts))
    run = finish_run(slate, settings, prepared, sims, progress, cancel, calibration)
    _, notice = _repository(ontology_settings)
    return _optimize_result(run, response_id, notice, keep_object, calibration is not None)


def optimize_plan(slate, settings, ontology_settings, config=None, model=None, calibration=None, response_id: str | None = None,
                  keep_object: bool = False):
    """The plan of an optimize job (see the module docstring). ``ontology_settings``: the
    Settings whose ontology backend the tasks open; ``model``: the fitted model to simulate with
    (loaded by the caller, so remote workers need no state directory); ``calibration``:
    (metrics, about) read by the caller, or None."""
    from engine.model.scenarios import block_plan

    onto = _ontology_json(ontology_settings)

    def plan(d):
        if settings.n_scenarios <= SPLIT_SCENARIOS:
            return d.run(optimize_task, slate, settings, onto, config, model, calibration, response_id, keep_object)
        prepared = d.call(prepare_task, slate, settings, onto, config, model)
        chunks = block_plan(settings.n_scenarios, CHUNK_SCENARIOS)
        parts = d.map(simulate_task, [(prepared.inputs, settings.n_scenarios, settings.seed, b) for b in chunks], share=0.6,
                      gather=False)
        return d.run(finish_task, slate, settings, prepared, parts, onto, calibration, response_id, keep_object, share=0.4)

    return plan


# ----------------------------------------------------------------------------- backtest
def load_history_task(data_dir: str, state_dir: str | None, series: str = "cup", cross_series: bool | None = None):
    from dataclasses import replace

    from engine.data.history import History

    history = History.load(Path(data_dir), state_dir if state_dir else False, series=series)
    return history if cross_series is None else replace(history, cross_series=cross_series)


def races_task(history, seasons: tuple[int, ...], track_type: str | None) -> list[tuple[int, str]]:
    from engine.model.backtest import check_backtest

    races = check_backtest(history, seasons, track_type)
    return [(int(r.season), r.race_id) for r in races.itertuples()]


def fit_task(history, season: int, settings, state_dir: str | None):
    """The model forecasting ``season`` (fitted on the seasons before it, cached) and its start baseline."""
    from engine.model.backtest import StartBaseline, fitted_model

    model = fitted_model(history, season, settings, Path(state_dir) if state_dir else None)
    return model, StartBaseline(history, tuple(model.fit_seasons))


def score_task(history, fitted, race_id: str, season: int, n_scenarios: int, seed: int) -> dict:
    from engine.model.backtest import score_race

    model, baseline = fitted
    return score_race(history, race_id, season, model, baseline, n_scenarios, seed)


def summarize_task(scores: list[dict], fits: dict, settings, seasons, track_type, n_scenarios, seed, seconds, series="cup") -> dict:
    from engine.model.backtest import summarize

    return summarize(list(scores), fits, settings, tuple(seasons), track_type, n_scenarios, seed, True, seconds, series=series)


def fit_summary_task(fitted, races: int) -> dict:
    from engine.model.backtest import fit_meta

    return fit_meta(fitted[0], races)


def backtest_plan(seasons: tuple[int, ...], track_type: str | None, n_scenarios: int, seed: int, state_dir=None, settings=None,
                  data_dir=None, series: str = "cup"):
    """The plan of a rolling-origin backtest job (see the module docstring)."""
    import time

    from engine.core.paths import DATA_DIR
    from engine.model.fit import FitSettings

    settings = (settings or FitSettings()).for_series(series)
    state = str(state_dir) if state_dir else None

    def plan(d):
        t0 = time.perf_counter()
        history = d.submit(load_history_task, str(data_dir or DATA_DIR), state, series, settings.cross_series)
        races = d.call(races_task, history, tuple(seasons), track_type)
        by_season: dict[int, list[str]] = {}
        for season, rid in races:
            by_season.setdefault(season, []).append(rid)
        fitted = d.map(fit_task, [(history, s, settings, state) for s in sorted(by_season)], share=0.45, gather=False)
        fitted = dict(zip(sorted(by_season), fitted))
        metas = d.map(fit_summary_task, [(fitted[s], len(by_season[s])) for s in sorted(by_season)], share=0.0)
        scores = d.map(score_task, [(history, fitted[s], rid, s, n_scenarios, seed) for s, rid in races], share=0.5, gather=False)
        fits = {str(s): m for s, m in zip(sorted(by_season), metas)}
        report = d.call(summarize_task, scores, fits, settings, tuple(seasons), track_type, n_scenarios, seed, 0.0, series)
        report["seconds"] = round(time.perf_counter() - t0, 1)
        return report, report

    return plan


def run_local(plan) -> Any:
    """Run a plan in this process (the CLI without a cluster)."""
    from engine.jobs.dispatch import LocalDispatch

    return plan(LocalDispatch())


# ----------------------------------------------------------------------------- contest
CONTEST_SPLIT = 20_000  # contests over more simulated races than this run a task per block of races
CONTEST_BLOCK = 10_000  # races per contest task


def contest_task(progress, cancel, slate, settings, ontology_settings: str, config, model, contest: dict):
    """Optimize the slate, then simulate the contest of its lineups (engine.dfs.contest.run.run_contest)."""
    from engine.dfs.contest.run import run_contest

    run, notes = _contest_run(slate, settings, ontology_settings, config, model, lambda f: progress(0.5 * f), cancel)
    out = run_contest(run, progress=lambda f: progress(0.5 + 0.5 * f), cancel=cancel, **contest)
    return _contest_out(out, run, notes), None


def _contest_run(slate, settings, ontology_settings: str, config, model, progress=None, cancel=None):
    from engine.jobs.pipeline import run_optimize

    repo, notice = _repository(ontology_settings)
    run = run_optimize(slate, settings, repo, progress=progress, cancel=cancel, config=config, model=model)
    return run, ([notice] if notice else []) + run.summary()["notes"]


def _contest_out(out: dict, run, notes: list[str]) -> dict:
    out["model"] = {"hash": run.inputs.model.hash, "fit_seasons": run.inputs.model.fit_span}
    out["notes"] = notes
    return out


def contest_optimize_task(progress, cancel, slate, settings, ontology_settings: str, config, model):
    return _contest_run(slate, settings, ontology_settings, config, model, progress, cancel)


def contest_prepare_task(progress, cancel, optimized, contest: dict):
    from engine.dfs.contest.run import prepare_contest

    return prepare_contest(optimized[0], **contest, progress=progress)


def contest_block_task(optimized, setup, block: int, blocks: int, which: str):
    from engine.dfs.contest.run import contest_block

    return contest_block(optimized[0], setup, block, blocks, which)


def contest_summary_task(optimized, setup, parts, base_parts, untilted_parts=()):
    from engine.dfs.contest.run import contest_summary, merge_results

    run, notes = optimized
    base = merge_results(list(base_parts)) if base_parts else None
    untilted_parts = [r for r in untilted_parts if r is not None]
    untilted = merge_results(untilted_parts) if untilted_parts else None
    return _contest_out(contest_summary(run, setup, merge_results(list(parts)), base, untilted), run, notes)


def contest_plan(slate, settings, ontology_settings, contest: dict, config=None, model=None):
    """The plan of a contest job: one task (optimize, then the contest on the same races) up to
    CONTEST_SPLIT simulated races; above, an optimize task, a task drawing the field (and choosing
    the lineups), a task per CONTEST_BLOCK races (per-race results are independent, so the blocks
    give the one-task result) and a summary task."""
    onto = _ontology_json(ontology_settings)

    def plan(d):
        if settings.n_scenarios <= CONTEST_SPLIT:
            return d.run(contest_task, slate, settings, onto, config, model, contest)
        optimized = d.run(contest_optimize_task, slate, settings, onto, config, model, share=0.35, gather=False)
        setup = d.run(contest_prepare_task, optimized, contest, share=0.1, gather=False)
        blocks = -(-settings.n_scenarios // CONTEST_BLOCK)
        field_model = contest.get("field_model")
        kinds = ["user"] + (["base"] if contest.get("select") else []) + (
            ["untilted"] if field_model is None or field_model.strength is not None else [])
        parts = d.map(contest_block_task, [(optimized, setup, b, blocks, k) for k in kinds for b in range(blocks)], share=0.5,
                      gather=False)
        by_kind = {k: parts[i * blocks:(i + 1) * blocks] for i, k in enumerate(kinds)}
        return d.call(contest_summary_task, optimized, setup, by_kind["user"], by_kind.get("base", []),
                      by_kind.get("untilted", [])), None

    return plan
