"""Jobs the app and the API both run: optimize a slate, backtest seasons (engine.jobs.runner runs
their plans on the Dask cluster; engine.jobs.tasks holds the plans)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from engine.core.contracts import ScenarioConfig, Slate
from engine.core.settings import Settings
from engine.jobs.dispatch import Plan
from engine.jobs.pipeline import OptimizeSettings


def _digest(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def optimize_cache_key(slate: Slate, settings: OptimizeSettings, calibration: bool) -> str:
    """Same slate, settings and model -> same key (the app and API reuse the completed job)."""
    from engine.model.params import load_params

    return "optimize:" + _digest(slate.model_dump(mode="json"), settings.model_dump(mode="json"), calibration,
                                 load_params(series=slate.series.value).hash)


def optimize_job(slate: Slate, settings: OptimizeSettings, app_settings: Settings, calibration: bool = False,
                 config: ScenarioConfig | None = None, response_id: str | None = None, keep_object: bool = False) -> Plan:
    """The plan of an optimize run. The model in use and the calibration metrics of its method
    are read here (files of this machine's state directory), so the tasks need neither."""
    from engine.jobs.tasks import optimize_plan
    from engine.model.backtest import cached_calibration
    from engine.model.params import load_params

    model = load_params(series=slate.series.value)
    cal = None
    if calibration:
        track_type = slate.track_type
        if track_type is None and config is not None:
            from engine.data.history import load_tracks

            tracks = load_tracks(series=slate.series.value).set_index("track_id")
            track_type = str(tracks.loc[config.track_id, "track_type"]) if config.track_id in tracks.index else None
        cal = cached_calibration(track_type, model=model, state_dir=app_settings.state_dir)
    return optimize_plan(slate, settings, app_settings, config, model, cal, response_id, keep_object)


def backtest_cache_key(seasons: tuple[int, ...], track_type: str | None, scenarios: int, seed: int, history=None,
                       series: str = "cup") -> str:
    """Same series, seasons, data and method -> same key: a rolling-origin backtest refits per
    season, so the data (shipped plus added) and the fit settings decide the result."""
    from engine.data.history import History
    from engine.model.fit import FitSettings

    h = history or History.load(series=series)
    return "backtest:" + _digest(h.series, list(seasons), track_type, scenarios, seed, h.fingerprint(),
                                 FitSettings().for_series(h.series).method_hash)


def _keep_report(plan: Plan, state_dir) -> Plan:
    def keep(d):
        from engine.model.backtest import report_path, save_report

        report, obj = plan(d)
        path = report_path(state_dir, report)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_report(report, path)
        return report, obj

    return keep


def backtest_job(seasons: tuple[int, ...], track_type: str | None, scenarios: int, seed: int, state_dir: Path | str,
                 series: str = "cup") -> Plan:
    """A rolling-origin backtest of a series (a fit per season, a task per race); its report is
    kept in the series' part of the state directory, where the optimize responses' calibration
    metrics are read from."""
    from engine.jobs.tasks import backtest_plan

    return _keep_report(backtest_plan(tuple(seasons), track_type, scenarios, seed, state_dir=state_dir, series=series), state_dir)
