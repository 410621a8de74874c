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

from engine.core.series import Series

MAX_SCENARIOS = 1_000_000
MIN_SCENARIOS = 10
MAX_FIELD = 43  # cars that start a Cup race (43 before 2016, 40 since, 41 at the Daytona 500 from 2025)
MAX_POOL = 60  # drivers one race's pool can hold: the field plus possible non-qualifiers
MAX_SALARY = 100_000
MAX_CAP = 1_000_000
ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # printable: no control characters
Ident = Field(min_length=1, max_length=64, pattern=ID_PATTERN)


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

    n_scenarios: int = Field(ge=MIN_SCENARIOS, le=MAX_SCENARIOS, description="divisible by 10, at most 1,000,000")
    track_id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    race_length: int | None = Field(default=None, gt=0, le=2000, description="laps; default from the track")
    field_size: int | None = Field(default=None, ge=2, le=MAX_FIELD,
                                   description="cars that start; default: the drivers given, at most the race's field "
                                               "(40). Drivers beyond it are possible non-qualifiers")
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

    driver_id: str = Ident
    skill: float = Unit
    aggression: float = Unit
    shadow_risk: float = Unit
    min_laps_led: int = Field(default=0, ge=0)
    max_laps_led: int | None = Field(default=None, ge=0)
    name: str | None = Field(default=None, max_length=100)
    salary: int | None = Field(default=None, gt=0, le=MAX_SALARY)
    start_position: int | None = Field(default=None, ge=1, le=MAX_FIELD)
    team: str | None = Field(default=None, max_length=100)
    manufacturer: str | None = Field(default=None, max_length=100)
    car_number: str | None = Field(default=None, max_length=8)
    site_player_id: str | None = Field(default=None, max_length=64, description="the salary site's player id (DK ID / FD Id)")
    pit_strategy: PitStrategy = PitStrategy.STANDARD
    locked: bool = False
    excluded: bool = False
    min_exposure: float = Field(default=0.0, ge=0.0, le=1.0)
    max_exposure: float = Field(default=1.0, ge=0.0, le=1.0)
    projected_ownership: float | None = Field(default=None, ge=0.0, le=1.0)
    out: bool = Field(default=False, description="not in the race (did not qualify, withdrew): scores 0, in no lineup")
    practice_rank: int | None = Field(default=None, ge=1, le=MAX_POOL, description="rank in the weekend's last practice (1 = best)")
    qualifying_rank: int | None = Field(default=None, ge=1, le=MAX_POOL, description="rank by qualifying speed (1 = fastest)")

    @model_validator(mode="after")
    def _consistent(self) -> DriverConstraintsRequest:
        if self.max_laps_led is not None and self.min_laps_led > self.max_laps_led:
            raise ValueError(f"min_laps_led {self.min_laps_led} is above max_laps_led {self.max_laps_led}")
        if self.min_exposure > self.max_exposure:
            raise ValueError(f"min_exposure {self.min_exposure} is above max_exposure {self.max_exposure}")
        if self.locked and self.excluded:
            raise ValueError("a driver cannot be both locked and excluded")
        if self.locked and self.out:
            raise ValueError("a driver marked out of the race cannot be locked")
        if self.out and self.start_position is not None:
            raise ValueError(f"a driver marked out of the race has no starting position (got {self.start_position})")
        return self


class OptimizeRequest(Contract):
    slate_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    drivers: list[DriverConstraintsRequest] = Field(min_length=1, max_length=MAX_POOL)
    scenario_config: ScenarioConfig
    salary_cap: int = Field(default=50_000, gt=0, le=MAX_CAP)
    random_seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    site: Site = Site.DK
    series: Series = Field(default=Series.CUP, description="the series of the race: cup (default), nxs (O'Reilly Auto Parts "
                           "Series) or truck (Craftsman Truck Series); it picks the history, the model and the tracks")

    @model_validator(mode="after")
    def _drivers_consistent(self) -> OptimizeRequest:
        seen: dict[str, int] = {}
        for i, d in enumerate(self.drivers):
            if d.driver_id in seen:
                raise ValueError(f"driver_id {d.driver_id!r} appears twice (drivers {seen[d.driver_id]} and {i})")
            seen[d.driver_id] = i
        starts: dict[int, list[str]] = {}
        for d in self.drivers:
            if d.start_position is not None:
                starts.setdefault(d.start_position, []).append(d.driver_id)
        for pos, who in sorted(starts.items()):
            if len(who) > 1:
                raise ValueError(f"drivers: start_position {pos} is given to more than one driver: {', '.join(map(repr, who))}")
        laps = self.scenario_config.race_length
        if laps is not None:
            for d in self.drivers:
                for f in ("min_laps_led", "max_laps_led"):
                    v = getattr(d, f)
                    if v is not None and v > laps:
                        raise ValueError(f"driver {d.driver_id!r}: {f} {v} is above the race length {laps}")
        return self


class DriverSelection(Contract):
    driver_id: str
    name: str
    salary: int
    projected_points: float
    position: int


class CalibrationMetrics(Contract):
    """Out-of-sample scores of the serving model's method (rolling-origin backtest), with which
    model serves (its hash and fit seasons) and which seasons were scored."""

    crps: float
    log_score: float
    coverage_50: float
    coverage_80: float
    coverage_95: float
    model_hash: str | None = None
    fit_seasons: str | None = None
    scored_seasons: str | None = None
    method_hash: str | None = None


class ScenarioDiagnostics(Contract):
    n_scenarios_generated: int
    n_valid: int
    rejection_rate: float
    avg_laps_led: float
    avg_position_differential: float
    calibration_metrics: CalibrationMetrics | None = None


class PortfolioLineup(Contract):
    """One lineup of the portfolio: its drivers (by projected points), salary and the
    distribution of its points over the valid simulated races."""

    lineup: int = Field(ge=1, description="rank in the portfolio (1 = highest mean)")
    drivers: list[DriverSelection]
    salary: int
    mean: float
    p10: float
    p50: float
    p90: float


class DriverExposure(Contract):
    driver_id: str
    name: str
    exposure: float = Field(ge=0.0, le=1.0, description="share of the portfolio's lineups holding the driver")
    min: float = Field(ge=0.0, le=1.0, description="the driver's minimum exposure")
    max: float = Field(ge=0.0, le=1.0, description="the driver's maximum exposure")


class OptimalShare(Contract):
    driver_id: str
    name: str
    optimal_pct: float = Field(ge=0.0, le=1.0, description="share of simulated races whose best lineup holds the driver")


class OptimizeResponse(Contract):
    """The contract's best lineup (``lineup``), and the whole portfolio: every lineup, each
    driver's exposure, optimal% when asked, and the site's upload file."""

    lineup: list[DriverSelection]
    total_projected_points: float
    total_salary: int
    scenario_diagnostics: ScenarioDiagnostics
    run_id: str
    status: RunState
    constraint_spec_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    series: Series = Field(default=Series.CUP, description="the series of the slate (its history and model)")
    lineups: list[PortfolioLineup] = Field(default_factory=list, description="every lineup, highest mean first")
    exposures: list[DriverExposure] = Field(default_factory=list, description="drivers in at least one lineup, most used first")
    optimal_pct: list[OptimalShare] | None = Field(default=None, description="with optimal_pct: true in the request")
    upload_csv: str | None = Field(default=None, description="the site's upload file of the lineups (also GET .../result.csv)")
    upload_csv_unavailable: str | None = Field(default=None, description="why there is no upload file (e.g. no site player ids)")


class OptimizationStatus(Contract):
    run_id: str
    status: RunState
    progress: float = Field(ge=0.0, le=1.0)
    error: str | None = None


class RuleKind(str, Enum):
    MIN_STARTING_BEHIND = "min_starting_behind"  # at least k drivers starting at or behind `position`
    MAX_PER_TEAM = "max_per_team"  # at most k drivers of one team (of `team`, or of every team)
    MAX_PER_MANUFACTURER = "max_per_manufacturer"  # at most k of one manufacturer (or of every one)
    GROUP = "group"  # at least `min` / at most `max` of `drivers`
    LOCK = "lock"  # `drivers` in every lineup
    EXCLUDE = "exclude"  # `drivers` in no lineup
    EXPOSURE = "exposure"  # `drivers` in between `min` and `max` of the lineups
    LAPS_LED = "laps_led"  # simulated races keep `drivers` between `min` and `max` laps led


class Rule(Contract):
    """A strategy rule, shared through the ontology or written by the analyst.

    Scope (APPLIES_TO): a rule applies to a slate when its ``series``, ``track_type`` and
    ``site`` (when set) match; ``team`` / ``manufacturer`` / ``drivers`` say whom it is about.
    """

    rule_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    description: str = ""
    kind: RuleKind
    enabled: bool = True
    series: Series | None = None
    track_type: str | None = None
    site: Site | None = None
    team: str | None = None
    manufacturer: str | None = None
    drivers: list[str] = Field(default_factory=list)
    k: int | None = Field(default=None, ge=0, le=43)
    position: int | None = Field(default=None, ge=1, le=43)
    min: float | None = Field(default=None, ge=0)
    max: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _params(self) -> Rule:
        need = {
            RuleKind.MIN_STARTING_BEHIND: ("k", "position"),
            RuleKind.MAX_PER_TEAM: ("k",),
            RuleKind.MAX_PER_MANUFACTURER: ("k",),
            RuleKind.GROUP: ("drivers",),
            RuleKind.LOCK: ("drivers",),
            RuleKind.EXCLUDE: ("drivers",),
            RuleKind.EXPOSURE: ("drivers",),
            RuleKind.LAPS_LED: ("drivers",),
        }[self.kind]
        missing = [f for f in need if not getattr(self, f) and getattr(self, f) != 0]
        if missing:
            raise ValueError(f"rule {self.rule_id!r} ({self.kind.value}) needs {', '.join(missing)}")
        if self.kind in (RuleKind.GROUP, RuleKind.EXPOSURE, RuleKind.LAPS_LED) and self.min is None and self.max is None:
            raise ValueError(f"rule {self.rule_id!r} ({self.kind.value}) needs min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"rule {self.rule_id!r}: min {self.min} is above max {self.max}")
        if self.kind is RuleKind.EXPOSURE and (self.max or 0) > 1:
            raise ValueError(f"rule {self.rule_id!r}: exposure is a fraction of lineups (0 to 1)")
        return self

    def applies(self, track_type: str | None, site: Site | str | None, series: Series | str | None = None) -> bool:
        site_v = getattr(site, "value", site)
        series_v = getattr(series, "value", series) or "cup"
        return self.enabled and (self.track_type is None or self.track_type == track_type) and (
            self.site is None or self.site.value == site_v
        ) and (self.series is None or self.series.value == series_v)


class SlateDriver(DriverConstraintsRequest):
    """A slate row: the contract's driver plus where its values came from.

    ``estimated`` lists fields not known from a source (e.g. ``start_position`` before
    qualifying) and ``notes`` says how each default was derived.
    """

    site_name: str | None = Field(default=None, description="the driver's spelling on the salary site")
    matched: bool = True
    history_races: int = 0
    skill_from: Series | None = Field(default=None, description="a driver new to the slate's series: the series whose races "
                                      "his skill was taken from (None: the newcomer prior, or his own history)")
    estimated: list[str] = Field(default_factory=list)


class Slate(Contract):
    """A race as the analyst edits it.

    ``field_size``: the cars that start the race (None: the drivers of the slate). A pool
    with more drivers than that holds possible non-qualifiers. ``salary_cap``: None is the
    site's cap."""

    slate_id: str = Field(min_length=1, max_length=128, pattern=ID_PATTERN)
    series: Series = Field(default=Series.CUP, description="cup, nxs (O'Reilly Auto Parts Series) or truck")
    site: Site | None = None
    season: int | None = Field(default=None, ge=1949, le=2100)
    race: int | None = Field(default=None, ge=1, le=60)
    race_name: str | None = Field(default=None, max_length=200)
    date: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")
    track_id: str | None = Field(default=None, max_length=64, pattern=ID_PATTERN)
    track_type: str | None = Field(default=None, max_length=64)
    race_length: int | None = Field(default=None, gt=0, le=2000)
    field_size: int | None = Field(default=None, ge=2, le=MAX_FIELD)
    salary_cap: int | None = Field(default=None, gt=0, le=MAX_CAP)
    drivers: list[SlateDriver] = Field(min_length=1, max_length=MAX_POOL)
    unmatched: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Slate:
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
    return describe_error_list(exc.errors(), payload)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def error_words(err: dict) -> str:
    """One pydantic error in words: what is allowed and what was given (no pydantic jargon)."""
    t, ctx, given = err.get("type", ""), err.get("ctx") or {}, err.get("input")
    got = f" (got {_shown(given)})"
    words = {
        "greater_than": lambda: f"must be above {ctx.get('gt')}{got}",
        "greater_than_equal": lambda: f"must be at least {ctx.get('ge')}{got}",
        "less_than": lambda: f"must be below {ctx.get('lt')}{got}",
        "less_than_equal": lambda: f"must be at most {ctx.get('le')}{got}",
        "string_too_long": lambda: f"is {len(given) if isinstance(given, str) else '?'} characters long; at most {ctx.get('max_length')} are allowed",
        "string_too_short": lambda: "must not be empty",
        "string_pattern_mismatch": lambda: f"{_shown(given)} has characters that are not allowed (control characters or a wrong format)",
        "too_long": lambda: f"has {ctx.get('actual_length')} items; at most {ctx.get('max_length')} are allowed",
        "too_short": lambda: f"needs at least {ctx.get('min_length')} item(s) (got {ctx.get('actual_length')})",
        "missing": lambda: "is required",
        "extra_forbidden": lambda: "is not a known field",
        "int_parsing": lambda: f"must be a whole number{got}",
        "int_type": lambda: f"must be a whole number{got}",
        "int_from_float": lambda: f"must be a whole number{got}",
        "float_parsing": lambda: f"must be a number{got}",
        "float_type": lambda: f"must be a number{got}",
        "finite_number": lambda: f"must be a finite number{got}",
        "bool_parsing": lambda: f"must be true or false{got}",
        "bool_type": lambda: f"must be true or false{got}",
        "string_type": lambda: f"must be text{got}",
        "list_type": lambda: f"must be a list{got}",
        "dict_type": lambda: f"must be an object{got}",
        "model_type": lambda: f"must be an object{got}",
        "model_attributes_type": lambda: f"must be an object{got}",
        "enum": lambda: f"must be one of {ctx.get('expected')}{got}",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}{got}",
        "url_parsing": lambda: f"is not a valid URL{got}",
        "url_scheme": lambda: f"must be an http or https URL{got}",
    }
    if t in words:
        return words[t]()
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def describe_error_list(errors: list[dict], payload: Any) -> list[str]:
    """Readable messages for pydantic-style error dicts (loc, msg), naming driver and field:
    "driver 'd1' (drivers[0]): skill: must be at most 1.0 (got 1.5)"."""
    out = []
    drivers = payload.get("drivers") if isinstance(payload, dict) else None
    for err in errors:
        # drop the request part ("body") and pydantic's validator names ("function-after[...]")
        loc = [p for p in err["loc"] if p != "body" and not (isinstance(p, str) and ("[" in p or "(" in p))]
        where = []
        if len(loc) >= 2 and loc[0] == "drivers" and isinstance(loc[1], int):
            idx = loc[1]
            did = None
            if isinstance(drivers, list) and idx < len(drivers) and isinstance(drivers[idx], dict):
                did = drivers[idx].get("driver_id") or drivers[idx].get("name")
            where.append(f"driver {_shown(did)} (drivers[{idx}])" if did else f"drivers[{idx}]")
            loc = loc[2:]
        if loc:
            where.append("".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip("."))
        msg = error_words(err)
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


def validate_rules(items: list[tuple[str, Any]]) -> list[Rule]:
    """Rules from (label, raw rule) pairs; ContractError with every problem, each led by its
    rule's label and naming the field, and any rule id used more than once."""
    rules, messages = [], []
    for label, item in items:
        try:
            rules.append(Rule.model_validate(item))
        except ValidationError as exc:
            messages += [f"{label}: {m}" for m in describe_errors(exc, {})]
    ids = [r.rule_id for r in rules]
    messages += [f"rule id {x!r} is used more than once" for x in sorted({x for x in ids if ids.count(x) > 1})]
    if messages:
        raise ContractError(messages)
    return rules


def parse_rules(payload: Any, where: str = "rules") -> list[Rule]:
    """Analyst rules from JSON (a list of rule objects), each named by position and id in errors."""
    if not isinstance(payload, list):
        raise ContractError([f"{where}: expected a list of rules, got {type(payload).__name__}"])

    def label(k: int, item: Any) -> str:
        rid = item.get("rule_id") if isinstance(item, dict) else None
        return f"{where}: rule {k}" + (f" ({_shown(rid)})" if rid else "")

    return validate_rules([(label(k, item), item) for k, item in enumerate(payload, start=1)])
