"""Fitting and rolling-origin backtest speed.

(a) Fit the shipped method on 2015-2024 (the model that forecasts 2025), from a cold start (no
cached driver skills): seconds. Target: under 60 s on the 2-core machine.
(b) Backtest the 2025 season at 2,000 simulated races per race with that model already fitted:
seconds. Target: under 30 s. Reference measured in the same run: simulating the same 36
races' slates alone (no scoring, no slate building); the ratio says what scoring and slate
building add.

Run: .venv/bin/python bench/bench_fit.py
"""

from __future__ import annotations

import tempfile
import time

from engine.data.history import History
from engine.data.slates import build_slate
from engine.model.backtest import backtest, fitted_model, race_seed
from engine.model.field import prepare
from engine.model.fit import FitSettings
from engine.model.scenarios import simulate


def main() -> None:
    history = History.load(state_dir=False)
    state = tempfile.mkdtemp()
    settings = FitSettings()
    t = time.perf_counter()
    model = fitted_model(history, 2025, settings, state)
    fit_s = time.perf_counter() - t
    print(f"(a) fit of method {settings.method_hash} on {model.fit_span} ({len(history.seasons_before(2025).index)} races): "
          f"{fit_s:.1f} s (target < 60 s)")
    t = time.perf_counter()
    report = backtest(history, (2025,), settings=settings, n_scenarios=2000, seed=0, state_dir=state)
    bt_s = time.perf_counter() - t
    races = history.index[history.index["season"] == 2025]["race_id"].tolist()
    slates = [build_slate(r, history) for r in races]
    t = time.perf_counter()
    for rid, s in zip(races, slates):
        simulate(prepare(s, model=model), 2000, race_seed(0, rid))
    ref_s = time.perf_counter() - t
    print(f"(b) backtest of 2025 ({report['races']} races x 2,000 simulated races, model fitted): {bt_s:.1f} s (target < 30 s); "
          f"reference, simulating the same races only: {ref_s:.1f} s; ratio {bt_s / ref_s:.1f}")


if __name__ == "__main__":
    main()
