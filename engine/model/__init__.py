"""model: the race simulator and its proof. Fitted parameters (params, fit), the simulated
races (field: who races and their pace; race: order, DNFs, incidents; leaders: laps led and
fastest laps; draws: the seeded randomness; scenarios: running them), and the calibration
metrics and rolling-origin backtests on real races (calibration, backtest).

May import: engine.core, engine.data."""
