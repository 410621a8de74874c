"""The simulator's commands: `pitwall fit`, `pitwall backtest` (rolling origin) and `pitwall simulate`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from engine.core.contracts import MAX_SCENARIOS, MIN_SCENARIOS
from engine.interfaces.cli.common import (
    METHOD_OPTIONS,
    SERIES_OPTION,
    SLATE_OPTIONS,
    WRITTEN,
    app,
    cli_dispatch,
    console,
    err,
    fail,
    fit_settings,
    load_slate_arg,
    outputs,
    parse_seasons,
    progress_bar,
    series_arg,
    show_table,
    writable,
    write_output,
)

CLUSTER_RACES = 30  # a backtest of this many races or more runs on the local cluster by default (where bench/bench_cluster.py found 2 workers pay on 2 cores)


@app.command("backtest")
def backtest_cmd(
    seasons: str = typer.Option(None, help="seasons to score (default: 2022, the Next Gen car, to the last season held)"),
    track_type: str = typer.Option(None, help="only races of this track type"),
    scenarios: int = typer.Option(2000, min=10, max=20_000, help="simulated races per race"),
    seed: int = typer.Option(0, min=0),
    features: str = METHOD_OPTIONS["features"],
    era_from: int = METHOD_OPTIONS["era_from"],
    no_era: bool = METHOD_OPTIONS["no_era"],
    noise: str = METHOD_OPTIONS["noise"],
    hetero: bool = METHOD_OPTIONS["hetero"],
    trouble: bool = METHOD_OPTIONS["trouble"],
    dominator: bool = METHOD_OPTIONS["dominator"],
    grid: bool = METHOD_OPTIONS["grid"],
    json_out: str = typer.Option(None, "--json", help="report.json (docs/calibration.json is the shipped one)"),
    html_out: str = typer.Option(None, "--html", help="standalone HTML report (opens offline)"),
    markdown: str = typer.Option(None, help="write a markdown page (e.g. docs/calibration.md) with its charts next to it"),
    cluster: bool = typer.Option(None, "--cluster/--no-cluster", help="fits and races as Dask tasks on the cluster (default: "
                                 "when more than one season or at least 30 races, or PITWALL_DASK_SCHEDULER is set)"),
    series: str = SERIES_OPTION,
    cross_series: bool = METHOD_OPTIONS["cross_series"],
) -> None:
    """Rolling-origin calibration: each season is forecast by a model fitted only on the seasons
    before it (fitted on demand, cached), and scored against what happened and baselines (CRPS,
    log score, coverage, PIT). Seasons added with `data add` count, in progress or complete."""
    import shlex
    import sys

    from engine.core.settings import get_settings
    from engine.data.history import DataError, History
    from engine.interfaces.charts import (
        grid_rows,
        reliability_rows,
        report_html,
        season_rows,
        structure_rows,
        summary_rows,
        write_markdown,
    )
    from engine.model.backtest import backtest, check_backtest, report_path, save_report

    outputs((json_out, "--json"), (html_out, "--html"), (markdown, "--markdown"))
    series = series_arg(series)
    try:
        history = History.load(series=series)
        chosen = parse_seasons(seasons) if seasons else tuple(s for s in history.seasons if s >= 2022)
        check_backtest(history, chosen, track_type)
    except (DataError, ValueError) as exc:
        fail(str(exc))
    settings = fit_settings(features, era_from, no_era, noise, hetero, trouble, dominator, grid, cross_series)
    races = int(history.index["season"].isin(chosen).sum()) if track_type is None else int(
        (history.index["season"].isin(chosen) & (history.index["track_type"] == track_type)).sum())
    use_cluster = cluster if cluster is not None else (len(chosen) > 1 or races >= CLUSTER_RACES)
    try:
        with progress_bar(f"Backtesting the {history.label} {chosen[0]}-{chosen[-1]} (fitting each season's model first)") as cb, \
                cli_dispatch(use_cluster, cb) as d:
            if use_cluster or get_settings().dask_scheduler:
                from engine.jobs.tasks import backtest_plan

                report, _ = backtest_plan(chosen, track_type, scenarios, seed, get_settings().state_dir, settings, series=series)(d)
            else:
                report = backtest(history, chosen, settings=settings, n_scenarios=scenarios, seed=seed, track_type=track_type,
                                  progress=cb)
    except ValueError as exc:
        fail(str(exc))
    kept = report_path(None, report)
    kept.parent.mkdir(parents=True, exist_ok=True)
    save_report(report, kept)
    rows = season_rows(report)
    show_table(f"{history.label} by season: each forecast by a model fitted on the seasons before it (method "
               f"{report['settings']['method_hash']})",
               list(rows[0]), [list(r.values()) for r in rows], left=("season", "model"))
    rows = summary_rows(report)
    show_table(f"{report['races']} races, {report['rows']:,} driver results, {report['seconds']} s (pooled)", list(rows[0]),
               [list(r.values()) for r in rows], left=("track type",))
    rows = reliability_rows(report)
    show_table("reliability: largest gap |forecast - observed| over bins of 100+ results / Brier skill score vs the base rate",
               list(rows[0]), [list(r.values()) for r in rows], left=("season",))
    rows = structure_rows(report)
    show_table("race structure by track type (real / simulated)", list(rows[0]), [list(r.values()) for r in rows], left=("track type",))
    rows = grid_rows(report)
    show_table("starting grid: the qualifying model's predicted order against the real grid", list(rows[0]),
               [list(r.values()) for r in rows], left=("season",))
    for s in report["skipped"]:
        console.print(f"skipped: {s}")
    from engine.interfaces.charts import target_lines

    for line in filter(None, target_lines(report)):
        console.print(line)
    console.print(f"kept {kept}")
    if json_out:
        write_output(json_out, json.dumps(report, indent=1))
    if html_out:
        write_output(html_out, report_html(report))
    if markdown:
        md = Path(markdown)
        command = "pitwall " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        for f in write_markdown(report, md, md.parent / "img", command):
            WRITTEN.append(str(f))
            console.print(f"wrote {f}")


def stats_table(title: str, hist, sim) -> None:
    cols = ["dnf_rate", "incidents_per_race", "incident_size", "leaders", "top_leader_share", "fastest_share_of_laps"]
    rows = []
    for tt in hist.index:
        cells = []
        for c in cols:
            h = hist.loc[tt, c]
            s = sim.loc[tt, c] if sim is not None and tt in sim.index else None
            cells.append(f"{h:.3f}" + (f" / {s:.3f}" if s is not None else ""))
        rows.append([f"{tt} ({int(hist.loc[tt, 'races'])})", *cells])
    show_table(title, ["track type"] + [c.replace("_", " ") for c in cols], rows, left=("track type",))


@app.command("fit")
def fit_cmd(
    seasons: str = typer.Option(None, help="seasons to fit on (default: every season held, shipped and added)"),
    out: str = typer.Option(None, help="output file (default: the state directory's model_params.json, the model in use)"),
    check: str = typer.Option("", help="held-back seasons to compare with simulated races ('' to skip)"),
    features: str = METHOD_OPTIONS["features"],
    era_from: int = METHOD_OPTIONS["era_from"],
    no_era: bool = METHOD_OPTIONS["no_era"],
    noise: str = METHOD_OPTIONS["noise"],
    hetero: bool = METHOD_OPTIONS["hetero"],
    trouble: bool = METHOD_OPTIONS["trouble"],
    dominator: bool = METHOD_OPTIONS["dominator"],
    grid: bool = METHOD_OPTIONS["grid"],
    scenarios: int = typer.Option(200, min=10, max=10_000, help="scenarios per race for the comparison"),
    seed: int = typer.Option(1, min=0),
    series: str = SERIES_OPTION,
    cross_series: bool = METHOD_OPTIONS["cross_series"],
) -> None:
    """Fit the simulator by track type on shipped plus added seasons, write it to the state
    directory (the model every command, the app and the API then use), and print fitted
    against historical statistics."""
    from engine.core.series import SHORT_NAMES, series_state_dir
    from engine.core.settings import get_settings
    from engine.data.history import History
    from engine.model.fit import (
        check_fit_seasons,
        fit_model,
        observed_statistics,
        simulated_statistics,
        structure_note,
        structure_races,
    )
    from engine.model.params import params_from_dict

    series = series_arg(series)
    history = History.load(series=series)
    fit_seasons = parse_seasons(seasons) if seasons else tuple(history.seasons)
    held_back = parse_seasons(check, "--check") if check else ()
    path = Path(out) if out else series_state_dir(get_settings().state_dir, series) / "model_params.json"
    if not out:
        path.parent.mkdir(parents=True, exist_ok=True)
    writable(str(path), "--out")
    settings = fit_settings(features, era_from, no_era, noise, hetero, trouble, dominator, grid, cross_series)
    try:
        check_fit_seasons(history, fit_seasons)
        if held_back:
            missing = sorted(set(held_back) - set(history.seasons))
            if missing:
                raise ValueError(f"--check: no races in season(s) {missing}; the history has {history.seasons[0]}-{history.seasons[-1]}")
        with progress_bar(f"Fitting the {SHORT_NAMES[series]} on {fit_seasons[0]}-{fit_seasons[-1]}") as cb:
            raw = fit_model(history, fit_seasons, progress=cb, settings=settings)
    except ValueError as exc:
        fail(str(exc))
    path.write_text(json.dumps(raw, indent=1) + "\n")
    WRITTEN.append(str(path))
    model = params_from_dict(raw)
    console.print(f"wrote {path}: {SHORT_NAMES[series]} model {model.hash} fitted on seasons {model.fit_span} ({raw['races']} "
                  f"races), method {model.method_hash}")
    loop = raw["loop_data"]
    span = f"{loop['seasons'][0]}-{loop['seasons'][-1]}" if loop["seasons"] else "none"
    console.print(f"loop data (fastest laps): {loop['races']} of the {loop['of']} fit races (seasons {span}); green-flag laps and "
                  "fastest laps are fitted on those races only")
    structure = structure_races(history, raw)
    with progress_bar("Simulating the fit races") as cb:
        sim = simulated_statistics(history, model=model, n_per_race=scenarios, seed=seed, progress=cb, race_ids=structure)
    stats_table(f"in sample: each track type's races of the seasons its race structure was fitted on ({structure_note(raw)}): "
                "historical / simulated", observed_statistics(history, race_ids=structure), sim)
    if held_back:
        with progress_bar("Simulating the held-back races") as cb:
            sim = simulated_statistics(history, held_back, model, scenarios, seed, progress=cb)
        stats_table(f"held-back seasons {held_back[0]}-{held_back[-1]}: historical / simulated",
                    observed_statistics(history, held_back), sim)


@app.command("simulate")
def simulate_cmd(
    race: str = typer.Option(None, help="a shipped race, SEASON-RACE (e.g. 2024-30)"),
    slate: str = typer.Option(None, help="a slate JSON file (as saved by the app) or a DK/FD salary file"),
    track: str = SLATE_OPTIONS["track"],
    date: str = typer.Option(None, help="race date for a salary file (YYYY-MM-DD); history before it is used"),
    series: str = SLATE_OPTIONS["series"],
    scenarios: int = typer.Option(10_000, min=MIN_SCENARIOS, max=MAX_SCENARIOS, help="number of simulated races"),
    seed: int = typer.Option(0, min=0, help="random seed (0 or more)"),
    out: str = typer.Option(None, help="parquet file: one row per (scenario, driver)"),
    workers: int = typer.Option(1, min=1, max=64),
    chunk_size: int = typer.Option(5_000, min=1),
) -> None:
    """Simulate a race: per-driver summary and diagnostics; --out writes every scenario."""
    from engine.core.series import SHORT_NAMES
    from engine.data.grid import SimulationError
    from engine.model.field import prepare
    from engine.model.scenarios import Cancelled, simulate

    writable(out, "--out")
    s = load_slate_arg(race, slate, track, date=date, need_track=True, series=series)
    for note in s.notes:
        console.print(f"slate: {note}")
    try:
        inputs = prepare(s)
    except SimulationError as exc:
        fail(str(exc))
    with progress_bar(f"Simulating {scenarios:,} races") as cb:
        try:
            sims = simulate(inputs, scenarios, seed, chunk_size=chunk_size, workers=workers, progress=cb)
        except Cancelled:
            fail("cancelled")
    if inputs.estimated_starts:
        console.print(f"starting grid unknown for {len(inputs.estimated_starts)} drivers: " + (
            "drawn in each simulated race by the qualifying model (skill, practice)" if inputs.grid_draw else "estimated from skill"))
    summ = sims.summary()
    if "dk_mean" in summ:
        dnq = inputs.qualifying_draws or inputs.out is not None
        cols = ["name", "start", "DK mean", "median", "p10", "p90", "win %", "top5 %", "top10 %", "DNF %"] + (["DNQ %"] if dnq else []) + ["led", "fastest"]
        rows = [[r.name, r.start or "out", f"{r.dk_mean:.1f}", f"{r.dk_median:.1f}", f"{r.dk_p10:.1f}", f"{r.dk_p90:.1f}",
                 f"{100 * r.win:.1f}", f"{100 * r.top5:.1f}", f"{100 * r.top10:.1f}", f"{100 * r.dnf:.1f}"]
                + ([f"{100 * r.dnq:.1f}"] if dnq else []) + [f"{r.laps_led:.1f}", f"{r.fastest_laps:.1f}"]
                for r in summ.sort_values("dk_mean", ascending=False).itertuples()]
        show_table(f"{s.race_name or s.slate_id}: {sims.n_valid:,} valid races", cols, rows, left=("name",))
    if inputs.qualifying_draws:
        console.print(f"field: {inputs.n_field} cars start each simulated race; {int(inputs.racing.sum()) - inputs.n_field} of the "
                      f"{int(inputs.racing.sum())} drivers who can race miss each one, drawn by qualifying pace (skill), and score 0 there")
    diag = sims.diagnostics()
    console.print(f"{SHORT_NAMES[inputs.model.series]} model {inputs.model.hash} fitted on seasons {inputs.model.fit_span}")
    console.print(f"diagnostics: generated {diag.n_scenarios_generated:,}, valid {diag.n_valid:,}, rejection rate "
                  f"{diag.rejection_rate:.3f}, avg laps led {diag.avg_laps_led:.2f}, avg |place differential| "
                  f"{diag.avg_position_differential:.2f}")
    if sims.warning:
        err.print(f"[yellow]warning:[/yellow] {sims.warning}")
    if out:
        sims.to_frame().drop(columns="valid").to_parquet(out, index=False)
        WRITTEN.append(out)
        console.print(f"wrote {out}")
