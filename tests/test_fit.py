"""The fitted simulator reproduces real race statistics on races it was not fitted on.

Held back: every third race of each track type in 2019-2021, in date order (about 36 races;
the fit uses the other races of 2015-2021). Each held-back race is simulated from its own slate (no look-ahead) and the
simulated statistics per track type are compared with what happened. Stated tolerances:

* DNF rate per track type: within max(2 percentage points, 2.5 standard errors of a mean
  over the held-back races, from the spread of race DNF rates the model simulates: DNFs
  cluster in multi-car incidents, so driver rows are not independent);
* multi-car incidents per race: within max(0.25, 2.5 Poisson standard errors under the model);
* number of leaders: within max(25%, 2.5 standard errors); top leader's share of laps led:
  within max(0.08, 2.5 standard errors) (per-race standard deviations are about 3 leaders
  and 0.2 of the laps);
* fastest laps / laps run (green-flag share): within max(0.04, 2.5 standard errors).

Types with fewer than 3 held-back races (dirt) are left out. Seasons 2022-2024 (the Next Gen
car) are not used here: `pitwall fit` prints them, and the structural change shows there.
"""

import json

import numpy as np
import pytest

from engine.model.fit import fit_model, observed_statistics, simulated_statistics
from engine.model.params import params_from_dict


@pytest.fixture(scope="module")
def held_back(history):
    idx = history.index
    recent = idx[idx["season"].between(2019, 2021)]
    held = [rid for _, g in recent.groupby("track_type") for rid in g["race_id"].tolist()[1::3]]
    raw = fit_model(history, tuple(range(2015, 2022)), exclude=set(held))
    json.dumps(raw)  # serializable as written by `pitwall fit`
    model = params_from_dict(raw)
    sim = simulated_statistics(history, model=model, n_per_race=300, seed=5, race_ids=held)
    obs = observed_statistics(history, race_ids=held)
    return raw, obs, sim


@pytest.mark.slow
def test_fit_records_its_seasons_and_holdout(held_back):
    raw, _, _ = held_back
    assert raw["fit_seasons"] == list(range(2015, 2022)) and 30 <= len(raw["held_back"]) <= 40
    assert raw["races"] == 252 - len(raw["held_back"])
    for t in ("superspeedway", "intermediate", "short", "road"):
        p = raw["types"][t]["params"]
        assert p["b_skill"] > 0 and abs(sum(p["incident_count_p"]) - 1) < 1e-3
        assert raw["types"][t]["history"]["dnf_rate"] > 0


def violations(obs, sim) -> list[str]:
    """Statistics outside the stated tolerances (see the module docstring)."""
    out = []
    for t in obs.index:
        o = obs.loc[t]
        if o["races"] < 3:
            continue
        s, n = sim.loc[t], o["races"]
        # standard errors of a mean over n held-back races, with the per-race spread the model
        # simulates (DNFs cluster in multi-car incidents: driver rows are not independent)
        checks = {
            "dnf_rate": max(0.02, 2.5 * s["dnf_rate_sd"] / np.sqrt(n)),
            "incidents_per_race": max(0.25, 2.5 * np.sqrt(s["incidents_per_race"] / n)),
            "leaders": max(0.25 * o["leaders"], 2.5 * s["leaders_sd"] / np.sqrt(n)),
            "top_leader_share": max(0.08, 2.5 * s["top_leader_share_sd"] / np.sqrt(n)),
            "fastest_share_of_laps": max(0.04, 2.5 * s["fastest_share_sd"] / np.sqrt(n)),
        }
        for stat, tol in checks.items():
            if abs(s[stat] - o[stat]) > tol:
                out.append(f"{t} {stat}: held-back {o[stat]:.3f}, simulated {s[stat]:.3f}, tolerance {tol:.3f}")
    return out


@pytest.mark.slow
def test_held_back_statistics_within_tolerance(held_back):
    _, obs, sim = held_back
    assert (obs["races"] >= 3).sum() >= 5
    assert violations(obs, sim) == []


@pytest.mark.slow
def test_the_check_catches_a_wrong_model(held_back, history):
    """Doubling the own-DNF rate of every track type must break the tolerances."""
    raw, obs, _ = held_back
    broken = json.loads(json.dumps(raw))
    for t in broken["types"].values():
        t["params"]["own_dnf_ratio"] *= 2
    sim = simulated_statistics(history, model=params_from_dict(broken), n_per_race=100, seed=5, race_ids=raw["held_back"])
    assert any("dnf_rate" in v for v in violations(obs, sim))


def test_shipped_parameters_are_a_fit_of_every_shipped_season():
    from engine.model.fit import FitSettings
    from engine.model.params import PARAMS_FILE

    raw = json.loads(PARAMS_FILE.read_text())
    assert raw["fit_seasons"] == list(range(2015, 2026)) and raw["held_back"] == []
    assert raw["method_hash"] == FitSettings().for_series("cup").method_hash  # the shipped method
    assert set(raw["types"]) == {"superspeedway", "intermediate", "large_oval", "one_mile_flat_or_concrete", "short", "road", "dirt"}
    assert raw["types"]["dirt"]["fitted_on"] == ["dirt", "short"]
    for spec in raw["assumptions"].values():
        assert "source" in spec


@pytest.mark.slow
def test_the_shipped_model_reproduces_its_races_within_ten_percent(history):
    """In sample, as `pitwall fit` prints it: each track type with at least 20 races in the seasons
    its race structure was fitted on, simulated from its own slates; DNF rate, multi-car incidents,
    leaders, top leader's share of laps led and fastest laps / laps each within 10% of the real races'."""
    from engine.model.fit import structure_races
    from engine.model.params import PARAMS_FILE, load_params

    raw = json.loads(PARAMS_FILE.read_text())
    races = structure_races(history, raw)
    obs = observed_statistics(history, race_ids=races)
    sim = simulated_statistics(history, model=load_params(PARAMS_FILE), n_per_race=150, seed=3, race_ids=races)
    checked = [t for t in obs.index if obs.loc[t, "races"] >= 20]
    assert len(checked) >= 6
    off = {(t, k): round(float(sim.loc[t, k] / obs.loc[t, k] - 1), 3) for t in checked
           for k in ("dnf_rate", "incidents_per_race", "leaders", "top_leader_share", "fastest_share_of_laps")
           if abs(sim.loc[t, k] / obs.loc[t, k] - 1) > 0.10}
    assert off == {}
