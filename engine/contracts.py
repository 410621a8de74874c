"""The vocabulary every module speaks: pydantic v2 models, extra fields forbidden.

The optimize contract (../shared/API_CONTRACT.md) is kept field for field; drivers carry the
extra fields a real slate needs. Every rejected value gets a message naming the driver and
the field: use :func:`parse_optimize_request` / :func:`describe_errors` rather than reading
raw pydantic errors.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_SCENARIOS = 1_000_000
MAX_FIELD = 43


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PitStrategy(str, Enum):
    AGGRESSIVE = "AGGRESSIVE"
    STANDARD = "STANDARD"
    CONSERVATIVE = "CONSERVATIVE"


class Site(str, Enum):
    DK = "dk"
    FD = "fd"


RunState = Literal["pending", "running", "completed", "failed", "cancelled"]
Unit = Field(ge=0.0, le=1.0)


class ScenarioConfig(Contract):
    """How many races to simulate, where. race_length and field_size may be omitted: they
    then come from the track and the slate."""

    n_scenarios: int = Field(gt=0, le=MAX_SCENARIOS, description="divisible by 10, at most 1,000,000")
    track_id: str = Field(min_length=1)
    race_length: int | None = Field(default=None, gt=0, le=2000, description="laps; default from the track")
    field_size: int | None = Field(default=None, ge=2, le=MAX_FIELD, description="default: the slate's drivers")
    calibration_enabled: bool = True

    @field_validator("n_scenarios")
    @classmethod
    def _divisible_by_ten(cls, v: int) -> int:
        if v % 10:
            raise ValueError(f"must be divisible by 10 (got {v})")
        return v


class DriverConstraintsRequest(Contract):
    """One driver of a slate with the analyst's constraints.

    skill: pace relative to the field (0 slowest, 1 best); aggression: widens the outcome
    spread and raises incident risk; shadow_risk: the driver's own DNF hazard; laps-led
    bounds condition the simulated races. The rest describes the real slate.
    """

    driver_id: str = Field(min_length=1)
    skill: float = Unit
    aggression: float = Unit
    shadow_risk: float = Unit
    min_laps_led: int = Field(default=0, ge=0)
    max_laps_led: int | None = Field(default=None, ge=0)
    name: str | None = None
    salary: int | None = Field(default=None, gt=0, le=100_000)
    start_position: int | None = Field(default=None, ge=1, le=MAX_FIELD)
    team: str | None = None
    manufacturer: str | None = None
    car_number: str | None = None
    site_player_id: str | None = Field(default=None, description="the salary site's player id (DK ID / FD Id)")
    pit_strategy: PitStrategy = PitStrategy.STANDARD
    locked: bool = False
    excluded: bool = False
    min_exposure: float = Field(default=0.0, ge=0.0, le=1.0)
    max_exposure: float = Field(default=1.0, ge=0.0, le=1.0)
    projected_ownership: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _consistent(self) -> "DriverConstraintsRequest":
        if self.max_laps_led is not None and self.min_laps_led > self.max_laps_led:
            raise ValueError(f"min_laps_led {self.min_laps_led} is above max_laps_led {self.max_laps_led}")
        if self.min_exposure > self.max_exposure:
            raise ValueError(f"min_exposure {self.min_exposure} is above max_exposure {self.max_exposure}")
        if self.locked and self.excluded:
            raise ValueError("a driver cannot be both locked and excluded")
        return self


class OptimizeRequest(Contract):
    slate_id: str = Field(min_length=1)
    drivers: list[DriverConstraintsRequest] = Field(min_length=1)
    scenario_config: ScenarioConfig
    salary_cap: int = Field(default=50_000, gt=0, le=1_000_000)
    random_seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    site: Site = Site.DK

    @model_validator(mode="after")
    def _drivers_consistent(self) -> "OptimizeRequest":
        seen: dict[str, int] = {}
        for i, d in enumerate(self.drivers):
            if d.driver_id in seen:
                raise ValueError(f"driver_id {d.driver_id!r} appears twice (drivers {seen[d.driver_id]} and {i})")
            seen[d.driver_id] = i
        laps = self.scenario_config.race_length
        if laps is not None:
            for d in self.drivers:
                for f in ("min_laps_led", "max_laps_led"):
                    v = getattr(d, f)
                    if v is not None and v > laps:
                        raise ValueError(f"driver {d.driver_id!r}: {f} {v} is above the race length {laps}")
        field = self.scenario_config.field_size
        if field is not None and field < len(self.drivers):
            raise ValueError(f"scenario_config.field_size {field} is below the {len(self.drivers)} drivers given")
        return self


class DriverSelection(Contract):
    driver_id: str
    name: str
    salary: int
    projected_points: float
    position: int


class CalibrationMetrics(Contract):
    crps: float
    log_score: float
    coverage_50: float
    coverage_80: float
    coverage_95: float


class ScenarioDiagnostics(Contract):
    n_scenarios_generated: int
    n_valid: int
    rejection_rate: float
    avg_laps_led: float
    avg_position_differential: float
    calibration_metrics: CalibrationMetrics | None = None


class OptimizeResponse(Contract):
    lineup: list[DriverSelection]
    total_projected_points: float
    total_salary: int
    scenario_diagnostics: ScenarioDiagnostics
    run_id: str
    status: RunState
    constraint_spec_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class OptimizationStatus(Contract):
    run_id: str
    status: RunState
    progress: float = Field(ge=0.0, le=1.0)
    error: str | None = None


class SlateDriver(DriverConstraintsRequest):
    """A slate row: the contract's driver plus where its values came from.

    ``estimated`` lists fields not known from a source (e.g. ``start_position`` before
    qualifying) and ``notes`` says how each default was derived.
    """

    site_name: str | None = Field(default=None, description="the driver's spelling on the salary site")
    matched: bool = True
    history_races: int = 0
    estimated: list[str] = Field(default_factory=list)


class Slate(Contract):
    """A race as the analyst edits it."""

    slate_id: str
    site: Site | None = None
    season: int | None = None
    race: int | None = None
    race_name: str | None = None
    date: str | None = None
    track_id: str | None = None
    track_type: str | None = None
    race_length: int | None = None
    salary_cap: int = 50_000
    drivers: list[SlateDriver]
    unmatched: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Slate":
        seen: set[str] = set()
        for d in self.drivers:
            if d.driver_id in seen:
                raise ValueError(f"driver_id {d.driver_id!r} appears twice in slate {self.slate_id!r}")
            seen.add(d.driver_id)
        return self


class ContractError(ValueError):
    """Invalid input: ``messages`` has one line per problem, each naming driver and field."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


def describe_errors(exc: ValidationError, payload: Any) -> list[str]:
    """Readable messages for a pydantic error: "driver 'd1' (drivers[0]): skill: ..."."""
    out = []
    drivers = payload.get("drivers") if isinstance(payload, dict) else None
    for err in exc.errors():
        loc = list(err["loc"])
        where = []
        if len(loc) >= 2 and loc[0] == "drivers" and isinstance(loc[1], int):
            idx = loc[1]
            did = None
            if isinstance(drivers, list) and idx < len(drivers) and isinstance(drivers[idx], dict):
                did = drivers[idx].get("driver_id") or drivers[idx].get("name")
            where.append(f"driver {did!r} (drivers[{idx}])" if did else f"drivers[{idx}]")
            loc = loc[2:]
        if loc:
            where.append(".".join(str(p) for p in loc))
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{': '.join(where)}: {msg}" if where else msg)
    return out


def parse_optimize_request(payload: dict[str, Any]) -> OptimizeRequest:
    """Validate an optimize request; raise ContractError with driver- and field-named messages."""
    try:
        return OptimizeRequest.model_validate(payload)
    except ValidationError as exc:
        raise ContractError(describe_errors(exc, payload)) from None


def parse_slate(payload: dict[str, Any]) -> Slate:
    try:
        return Slate.model_validate(payload)
    except ValidationError as exc:
        raise ContractError(describe_errors(exc, payload)) from None
