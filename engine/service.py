"""Jobs the app and the API both run: optimize a slate, backtest seasons (engine.jobs runs them)."""

from __future__ import annotations

import hashlib
import json

from engine.contracts import Slate
from engine.jobs import Work
from engine.ontology import OntologyRepository
from engine.pipeline import OptimizeSettings, run_optimize


def _digest(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def optimize_cache_key(slate: Slate, settings: OptimizeSettings, calibration: bool) -> str:
    """Same slate, settings and model -> same key (the app and API reuse the completed job)."""
    from engine.backtest import model_hash
    from engine.scenarios import load_params

    return "optimize:" + _digest(slate.model_dump(mode="json"), settings.model_dump(mode="json"), calibration, model_hash(load_params()))


def optimize_work(slate: Slate, settings: OptimizeSettings, repository: OntologyRepository, calibration: bool = False,
                  config=None) -> Work:
    def work(progress, cancel):
        run = run_optimize(slate, settings, repository, progress=progress, cancel=cancel, config=config, calibration=calibration)
        return run.summary(), run

    return work


def backtest_cache_key(seasons: tuple[int, ...], track_type: str | None, scenarios: int, seed: int, history=None) -> str:
    """Same seasons, data and method -> same key: a rolling-origin backtest refits per season, so
    the data (shipped plus added) and the fit settings decide the result."""
    from engine.data import History
    from engine.fit import FitSettings

    h = history or History.load()
    return "backtest:" + _digest(list(seasons), track_type, scenarios, seed, h.fingerprint(), FitSettings().method_hash)


def backtest_work(seasons: tuple[int, ...], track_type: str | None, scenarios: int, seed: int, history=None,
                  state_dir=None) -> Work:
    """A rolling-origin backtest (fits cached in the state directory); its report is kept there
    too (where the optimize responses' calibration metrics are read from)."""
    def work(progress, cancel):
        from engine.backtest import backtest, report_path, save_report
        from engine.data import History

        report = backtest(history or History.load(state_dir=state_dir), tuple(seasons), n_scenarios=scenarios, seed=seed,
                          track_type=track_type, state_dir=state_dir, progress=progress, cancel=cancel)
        path = report_path(state_dir, report)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_report(report, path)
        return report, report

    return work
