import json

import pytest
from pydantic import ValidationError

from engine.core.contracts import (
    ContractError,
    DriverConstraintsRequest,
    OptimizationStatus,
    OptimizeResponse,
    PitStrategy,
    ScenarioConfig,
    parse_optimize_request,
)

EXAMPLE = {
    "slate_id": "test-slate",
    "drivers": [
        {"driver_id": "d1", "skill": 0.75, "aggression": 0.6, "shadow_risk": 0.3, "min_laps_led": 0, "max_laps_led": 100}
    ],
    "scenario_config": {"track_id": "daytona", "n_scenarios": 100},
    "salary_cap": 50000,
    "random_seed": 42,
}


def driver(i, **kw):
    d = {"driver_id": f"d{i}", "skill": 0.5, "aggression": 0.5, "shadow_risk": 0.1}
    d.update(kw)
    return d


def request(drivers, **kw):
    r = {"slate_id": "s", "drivers": drivers, "scenario_config": {"track_id": "daytona", "n_scenarios": 100}}
    r.update(kw)
    return r


def test_documented_example_parses():
    req = parse_optimize_request(json.loads(json.dumps(EXAMPLE)))
    assert req.scenario_config.race_length is None and req.scenario_config.field_size is None
    assert req.scenario_config.calibration_enabled is True
    assert req.drivers[0].pit_strategy is PitStrategy.STANDARD
    assert req.salary_cap == 50000 and req.random_seed == 42


def test_full_scenario_config():
    c = ScenarioConfig(n_scenarios=1000, track_id="daytona", race_length=200, field_size=40, calibration_enabled=True)
    assert c.race_length == 200


@pytest.mark.parametrize("n", [0, -10, 15, 1_000_010, 99])
def test_n_scenarios_rejected(n):
    with pytest.raises(ContractError) as exc:
        parse_optimize_request(request([driver(1)], scenario_config={"track_id": "t", "n_scenarios": n}))
    assert "scenario_config.n_scenarios" in str(exc.value)


def test_n_scenarios_bounds_accepted():
    for n in (10, 1_000_000):
        assert ScenarioConfig(n_scenarios=n, track_id="t").n_scenarios == n


@pytest.mark.parametrize("field", ["skill", "aggression", "shadow_risk"])
@pytest.mark.parametrize("value", [-0.01, 1.01])
def test_unit_interval_fields_name_driver_and_field(field, value):
    drivers = [driver(1), driver(2, **{field: value, "name": "Kyle Larson"})]
    with pytest.raises(ContractError) as exc:
        parse_optimize_request(request(drivers))
    (msg,) = exc.value.messages
    assert "driver 'd2'" in msg and field in msg


def test_unit_interval_edges_accepted():
    d = DriverConstraintsRequest(driver_id="x", skill=0, aggression=1, shadow_risk=1)
    assert d.skill == 0


def test_laps_led_order_and_race_length():
    with pytest.raises(ContractError) as exc:
        parse_optimize_request(request([driver(1, min_laps_led=50, max_laps_led=10)]))
    assert "driver 'd1'" in str(exc.value) and "min_laps_led 50 is above max_laps_led 10" in str(exc.value)
    with pytest.raises(ContractError) as exc:
        parse_optimize_request(
            request([driver(7, max_laps_led=250)], scenario_config={"track_id": "t", "n_scenarios": 10, "race_length": 200})
        )
    assert "driver 'd7': max_laps_led 250 is above the race length 200" in str(exc.value)


def test_unique_driver_ids():
    with pytest.raises(ContractError) as exc:
        parse_optimize_request(request([driver(1), driver(2), driver(1)]))
    assert "driver_id 'd1' appears twice" in str(exc.value)


def test_extra_fields_forbidden_and_named():
    with pytest.raises(ContractError) as exc:
        parse_optimize_request(request([driver(1), driver(2, speed=3)]))
    assert "driver 'd2' (drivers[1]): speed: is not a known field" in str(exc.value)
    with pytest.raises(ContractError):
        parse_optimize_request({**EXAMPLE, "bogus": 1})


def test_several_errors_all_reported():
    drivers = [driver(1, skill=2), driver(2, aggression=-1), driver(3, pit_strategy="YOLO")]
    with pytest.raises(ContractError) as exc:
        parse_optimize_request(request(drivers))
    msgs = exc.value.messages
    assert len(msgs) == 3
    assert any("'d3'" in m and "pit_strategy" in m for m in msgs)


def test_slate_fields_of_a_driver():
    d = DriverConstraintsRequest(
        driver_id="kyle-larson", skill=0.8, aggression=0.4, shadow_risk=0.1, name="Kyle Larson", salary=11500,
        start_position=3, team="Hendrick Motorsports", manufacturer="Chevrolet", car_number="5",
        pit_strategy="AGGRESSIVE", locked=True, min_exposure=0.2, max_exposure=0.6, projected_ownership=0.3,
    )
    assert d.pit_strategy is PitStrategy.AGGRESSIVE
    with pytest.raises(ValidationError, match="both locked and excluded"):
        DriverConstraintsRequest(driver_id="x", skill=0.5, aggression=0.5, shadow_risk=0.5, locked=True, excluded=True)
    with pytest.raises(ValidationError, match="min_exposure 0.7 is above max_exposure 0.5"):
        DriverConstraintsRequest(driver_id="x", skill=0.5, aggression=0.5, shadow_risk=0.5, min_exposure=0.7, max_exposure=0.5)
    with pytest.raises(ValidationError):
        DriverConstraintsRequest(driver_id="x", skill=0.5, aggression=0.5, shadow_risk=0.5, start_position=0)


def test_field_size_below_driver_count_means_non_qualifiers():
    """More drivers than the field: a pool with possible non-qualifiers (drawn per simulated race), not an error."""
    req = parse_optimize_request(request([driver(1), driver(2), driver(3)], scenario_config={"track_id": "t", "n_scenarios": 10, "field_size": 2}))
    assert req.scenario_config.field_size == 2 and len(req.drivers) == 3
    with pytest.raises(ContractError, match="drivers: has 61 items; at most 60"):
        parse_optimize_request(request([driver(i) for i in range(61)]))


def test_response_and_status_models():
    status = OptimizationStatus(run_id="r", status="running", progress=0.5)
    assert status.error is None
    with pytest.raises(ValidationError):
        OptimizationStatus(run_id="r", status="done", progress=0.5)
    with pytest.raises(ValidationError):
        OptimizationStatus(run_id="r", status="running", progress=1.5)
    with pytest.raises(ValidationError, match="constraint_spec_hash"):
        OptimizeResponse(
            lineup=[], total_projected_points=0, total_salary=0, run_id="r", status="completed",
            scenario_diagnostics={"n_scenarios_generated": 10, "n_valid": 10, "rejection_rate": 0, "avg_laps_led": 1, "avg_position_differential": 0},
            constraint_spec_hash="abc123",
        )
