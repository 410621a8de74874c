"""ConstraintCompiler: (slate, site, ontology, analyst rules) -> ConstraintSpec.

The spec is the single statement of what the simulator and the optimizer must obey:

* lineup constraints: roster size and salary cap of the site, locks and excludes, at most k
  per team or manufacturer, at least k drivers starting at or behind a position, groups (at
  least / at most k of a set), per-driver exposure bounds;
* scenario constraints: per-driver laps-led bounds, conservation of laps, field size and race
  length.

Rules come from the ontology (shared knowledge, compiled when the slate's track type and site
match) and from the analyst; the slate's own driver fields (locked, excluded, exposure and
laps-led bounds) count as analyst input. The spec serializes to canonical JSON (sorted keys,
no whitespace, drivers sorted by id) and ``spec_hash`` is its sha256: the same facts give the
same hash whichever ontology backend supplied them.

Rule sets that cannot be satisfied are refused here when they can be seen without solving
(locks over the cap, more locks than roster spots, a group asking for more drivers than it
has, ...), with messages naming the rules involved.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import Field

from engine.core.contracts import Contract, Rule, RuleKind, Site, Slate
from engine.core.scoring import table as scoring_table
from engine.data.grid import (
    SimulationError,
    check_laps_led_bounds,
    estimate_starts,
    field_of,
)
from engine.dfs.ontology import OntologyRepository

SLATE = "slate"
OUT = "out"  # the driver is marked out of the race
GLOBAL = "global-exposure"


class SpecError(ValueError):
    """The constraints cannot all hold; ``messages`` name the rules (and drivers) involved."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("infeasible constraints: " + "; ".join(messages))


class SpecDriver(Contract):
    driver_id: str
    name: str
    salary: int | None = None
    team: str | None = None
    manufacturer: str | None = None
    start_position: int | None = None  # None: out of the race
    start_estimated: bool = False
    out: bool = False
    min_exposure: float = 0.0
    max_exposure: float = 1.0
    exposure_rule: str | None = None  # the rule that set the exposure bounds


class CountLimit(Contract):
    key: str  # a team or manufacturer name, or "*" for each one
    k: int
    rule_id: str


class StartLimit(Contract):
    position: int
    k: int
    rule_id: str


class Group(Contract):
    rule_id: str
    drivers: list[str]
    min: int | None = None
    max: int | None = None


class LapsLedBound(Contract):
    min: int = 0
    max: int | None = None
    rule_id: str = SLATE


class AppliedRule(Contract):
    rule_id: str
    source: str  # "ontology" or "analyst"
    description: str


class ConstraintSpec(Contract):
    version: int = 1
    slate_id: str
    series: str = "cup"
    site: Site
    roster_size: int
    salary_cap: int
    track_id: str | None = None
    track_type: str | None = None
    race_length: int | None = None
    field_size: int
    drivers: list[SpecDriver]
    locks: dict[str, str] = Field(default_factory=dict)  # driver_id -> rule_id
    excludes: dict[str, str] = Field(default_factory=dict)
    team_max: list[CountLimit] = Field(default_factory=list)
    manufacturer_max: list[CountLimit] = Field(default_factory=list)
    start_min: list[StartLimit] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    laps_led: dict[str, LapsLedBound] = Field(default_factory=dict)
    conserve_laps: bool = True
    rules_applied: list[AppliedRule] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def spec_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def driver(self, driver_id: str) -> SpecDriver:
        return next(d for d in self.drivers if d.driver_id == driver_id)

    def laps_led_bounds(self) -> dict[str, tuple[int, int | None]]:
        return {k: (v.min, v.max) for k, v in self.laps_led.items()}


def _money(x: int) -> str:
    return f"${x:,}"


class ConstraintCompiler:
    """Compiles slates against one ontology repository."""

    def __init__(self, repository: OntologyRepository):
        self.repository = repository

    def compile(self, slate: Slate, site: Site | str = Site.DK, analyst_rules: list[Rule] | None = None,
                salary_cap: int | None = None, field_size: int | None = None,
                min_exposure: float | None = None, max_exposure: float | None = None) -> ConstraintSpec:
        """The spec of a slate. ``salary_cap`` overrides the slate's cap (else the site's);
        ``field_size`` is an explicit number of starters (else the slate's rule); ``min_exposure``
        / ``max_exposure`` bound every driver's share of the lineups (locked drivers are in
        every lineup and excluded ones in none, whatever the global bounds say)."""
        site = Site(getattr(site, "value", site))
        ids = [d.driver_id for d in slate.drivers]
        facts = self.repository.slate_facts(ids, slate.track_id, slate.season, site.value, slate.series.value)
        track_type = slate.track_type or facts.track_type
        roster = int(facts.site["roster_size"]) if facts.site else scoring_table(site.value).roster_size
        cap = int(salary_cap or slate.salary_cap or (facts.site["salary_cap"] if facts.site else scoring_table(site.value).salary_cap))
        racing = [i for i, d in enumerate(slate.drivers) if not d.out]
        field = field_of(slate, field_size)
        notes: list[str] = []
        problems: list[str] = []

        # drivers: the slate's values, completed from the ontology; the grid of those who can race
        grid, est = estimate_starts([slate.drivers[i].start_position for i in racing], [slate.drivers[i].skill for i in racing],
                                    [ids[i] for i in racing], max(field, len(racing)))
        starts = {i: g for i, g in zip(racing, grid)}
        estimated = {racing[k] for k in est}
        filled = []
        drivers: dict[str, SpecDriver] = {}
        for i, d in enumerate(slate.drivers):
            f = facts.drivers.get(d.driver_id, {})
            team = d.team or f.get("team")
            make = d.manufacturer or f.get("manufacturer")
            if (d.team is None and team) or (d.manufacturer is None and make):
                filled.append(d.name or d.driver_id)
            drivers[d.driver_id] = SpecDriver(
                driver_id=d.driver_id, name=d.name or d.driver_id, salary=d.salary, team=team, manufacturer=make,
                start_position=starts.get(i), start_estimated=i in estimated, out=d.out,
                min_exposure=d.min_exposure, max_exposure=d.max_exposure,
            )
        if filled:
            notes.append(f"team / manufacturer from the ontology for {len(filled)} driver(s)")  # no backend name: same facts, same hash
        if estimated:
            notes.append(f"starting positions unknown for {len(estimated)} driver(s): rules on starting position use their expected "
                         "order (by skill)")
        outs = [slate.drivers[i].name or ids[i] for i in range(len(ids)) if slate.drivers[i].out]
        if outs:
            notes.append(f"out of the race (score 0, in no lineup): {', '.join(outs)}")
        if len(racing) > field:
            notes.append(
                f"{len(racing)} drivers can race for a field of {field}: before qualifying, {len(racing) - field} of them miss "
                "each simulated race and score 0 there, drawn by qualifying pace (skill: the weakest are likeliest to miss; "
                "drivers with a known grid position always start). Once qualifying is known, mark the non-qualifiers out"
            )

        locks = {d.driver_id: SLATE for d in slate.drivers if d.locked}
        excludes = {d.driver_id: SLATE for d in slate.drivers if d.excluded}
        excludes.update({d.driver_id: OUT for d in slate.drivers if d.out})
        if min_exposure is not None or max_exposure is not None:
            lo_g, hi_g = min_exposure or 0.0, 1.0 if max_exposure is None else max_exposure
            for x, d in drivers.items():
                lo = d.min_exposure if x in excludes else max(d.min_exposure, lo_g)
                hi = d.max_exposure if x in locks else min(d.max_exposure, hi_g)
                drivers[x] = d.model_copy(update={"min_exposure": round(lo, 4), "max_exposure": round(hi, 4)})
            applied_global = f"every driver in {lo_g:.0%} to {hi_g:.0%} of lineups (locked and excluded drivers aside)"
        else:
            applied_global = None
        laps_led = {d.driver_id: LapsLedBound(min=d.min_laps_led, max=d.max_laps_led) for d in slate.drivers
                    if d.min_laps_led or (d.max_laps_led is not None and slate.race_length and d.max_laps_led < slate.race_length)}
        exposure_src: dict[str, str] = {d.driver_id: SLATE for d in slate.drivers if d.min_exposure > 0 or d.max_exposure < 1}
        if applied_global:
            exposure_src.update({x: GLOBAL for x, d in drivers.items() if x not in exposure_src and (d.min_exposure > 0 or d.max_exposure < 1)})
        team_max, make_max, start_min, groups, applied = [], [], [], [], []
        if applied_global:
            applied.append(AppliedRule(rule_id=GLOBAL, source="analyst", description=applied_global))
        teams = sorted({d.team for d in drivers.values() if d.team})
        makes = sorted({d.manufacturer for d in drivers.values() if d.manufacturer})

        rules = [(r, "ontology") for r in facts.rules] + [(r, "analyst") for r in (analyst_rules or [])]
        seen_ids = set()
        for rule, source in rules:
            if rule.rule_id in seen_ids:
                problems.append(f"rule id {rule.rule_id!r} is used twice (ontology and analyst rules must have distinct ids)")
                continue
            seen_ids.add(rule.rule_id)
            if not rule.applies(track_type, site, slate.series):
                continue
            present = [x for x in rule.drivers if x in drivers]
            absent = [x for x in rule.drivers if x not in drivers]
            if absent and source == "analyst" and rule.kind in (RuleKind.LOCK, RuleKind.GROUP):
                problems.append(f"rule {rule.rule_id!r} names driver(s) not on this slate: {', '.join(absent)}")
                continue
            if rule.drivers and not present:
                notes.append(f"rule {rule.rule_id!r} skipped: none of its drivers is on this slate")
                continue
            unknown = [(attr, value, known) for attr, value, known in (("team", rule.team, teams), ("manufacturer", rule.manufacturer, makes))
                       if value is not None and value not in known]
            if unknown:
                attr, value, known = unknown[0]
                text = (f"rule {rule.rule_id!r} names {attr} {value!r}, which no driver on this slate has; "
                        f"{attr}s here: {', '.join(known) or 'none known'}")
                if source == "analyst":
                    problems.append(text)
                else:
                    notes.append(text + " (skipped)")
                continue
            applied.append(AppliedRule(rule_id=rule.rule_id, source=source, description=rule.description or describe_rule(rule)))
            k = rule.kind
            if k is RuleKind.MIN_STARTING_BEHIND:
                start_min.append(StartLimit(position=int(rule.position), k=int(rule.k), rule_id=rule.rule_id))
            elif k is RuleKind.MAX_PER_TEAM:
                team_max.append(CountLimit(key=rule.team or "*", k=int(rule.k), rule_id=rule.rule_id))
            elif k is RuleKind.MAX_PER_MANUFACTURER:
                make_max.append(CountLimit(key=rule.manufacturer or "*", k=int(rule.k), rule_id=rule.rule_id))
            elif k is RuleKind.GROUP:
                groups.append(Group(rule_id=rule.rule_id, drivers=sorted(present),
                                    min=None if rule.min is None else int(rule.min), max=None if rule.max is None else int(rule.max)))
            elif k is RuleKind.LOCK:
                for x in present:
                    locks[x] = rule.rule_id
            elif k is RuleKind.EXCLUDE:
                for x in present:
                    excludes[x] = rule.rule_id
            elif k is RuleKind.EXPOSURE:
                for x in present:
                    d = drivers[x]
                    lo = max(d.min_exposure, rule.min or 0.0)
                    hi = min(d.max_exposure, 1.0 if rule.max is None else rule.max)
                    drivers[x] = d.model_copy(update={"min_exposure": round(lo, 4), "max_exposure": round(hi, 4)})
                    exposure_src[x] = rule.rule_id
            elif k is RuleKind.LAPS_LED:
                for x in present:
                    cur = laps_led.get(x, LapsLedBound())
                    lo = max(cur.min, int(rule.min or 0))
                    hi = cur.max if rule.max is None else (int(rule.max) if cur.max is None else min(cur.max, int(rule.max)))
                    laps_led[x] = LapsLedBound(min=lo, max=hi, rule_id=rule.rule_id)

        for x, r in exposure_src.items():
            d = drivers[x]
            if d.min_exposure > 0 or d.max_exposure < 1:
                drivers[x] = d.model_copy(update={"exposure_rule": r})
        spec = ConstraintSpec(
            slate_id=slate.slate_id, series=slate.series.value, site=site, roster_size=roster, salary_cap=cap, track_id=slate.track_id,
            track_type=track_type, race_length=slate.race_length, field_size=field,
            drivers=sorted(drivers.values(), key=lambda d: d.driver_id), locks=dict(sorted(locks.items())),
            excludes=dict(sorted(excludes.items())), team_max=team_max, manufacturer_max=make_max, start_min=start_min,
            groups=groups, laps_led=dict(sorted(laps_led.items())), rules_applied=applied, notes=notes,
        )
        problems += feasibility_problems(spec, exposure_src)
        if problems:
            raise SpecError(problems)
        return spec


def _who(spec: ConstraintSpec, driver_id: str) -> str:
    return spec.driver(driver_id).name


def feasibility_problems(spec: ConstraintSpec, exposure_src: dict[str, str] | None = None) -> list[str]:
    """What can be seen to be impossible without solving, naming rules and drivers."""
    out: list[str] = []
    by_id = {d.driver_id: d for d in spec.drivers}
    exposure_src = exposure_src or {}
    for x in sorted(set(spec.locks) & set(spec.excludes)):
        out.append(f"{_who(spec, x)} is locked (rule {spec.locks[x]!r}) and excluded (rule {spec.excludes[x]!r})")
    if len(spec.locks) > spec.roster_size:
        names = ", ".join(f"{_who(spec, x)} ({r})" for x, r in spec.locks.items())
        out.append(f"{len(spec.locks)} locks ({names}) for {spec.roster_size} roster spots")
    eligible = [d for d in spec.drivers if d.driver_id not in spec.excludes]
    if len(eligible) < spec.roster_size:
        out.append(f"{len(eligible)} driver(s) cannot fill a {spec.roster_size}-driver lineup "
                   f"(only {len(eligible)} of the {len(spec.drivers)} drivers given are not excluded)")
    priced = all(d.salary is not None for d in spec.drivers)
    if priced and spec.locks:
        locked = sorted((by_id[x] for x in spec.locks), key=lambda d: -d.salary)
        total = sum(d.salary for d in locked)
        listing = " + ".join(f"{d.name} ({_money(d.salary)})" for d in locked)
        rules = sorted({spec.locks[d.driver_id] for d in locked})
        if total > spec.salary_cap:
            out.append(f"locks {listing} exceed the cap of {_money(spec.salary_cap)} by {_money(total - spec.salary_cap)} (rules {', '.join(rules)})")
        elif len(locked) < spec.roster_size:
            rest = sorted(d.salary for d in eligible if d.driver_id not in spec.locks)[: spec.roster_size - len(locked)]
            if len(rest) == spec.roster_size - len(locked) and total + sum(rest) > spec.salary_cap:
                out.append(
                    f"locks {listing} leave {_money(spec.salary_cap - total)} for {len(rest)} more drivers; the cheapest "
                    f"{len(rest)} cost {_money(sum(rest))} (rules {', '.join(rules)})"
                )
    for g in spec.groups:
        if g.min is not None and g.min > len(g.drivers):
            out.append(f"rule {g.rule_id!r} asks at least {g.min} of {len(g.drivers)} drivers on this slate")
        if g.min is not None and g.min > spec.roster_size:
            out.append(f"rule {g.rule_id!r} asks at least {g.min} drivers, more than the {spec.roster_size} roster spots")
        usable = [x for x in g.drivers if x not in spec.excludes]
        if g.min is not None and len(usable) < g.min <= len(g.drivers):
            out.append(f"rule {g.rule_id!r} asks at least {g.min} of its drivers, {len(g.drivers) - len(usable)} of them excluded")
        locked_in = [x for x in g.drivers if x in spec.locks]
        if g.max is not None and len(locked_in) > g.max:
            out.append(f"rule {g.rule_id!r} allows at most {g.max} of its drivers, but {len(locked_in)} are locked "
                       f"({', '.join(_who(spec, x) for x in locked_in)})")
    for s in spec.start_min:
        deep = [d for d in eligible if d.start_position >= s.position]
        if s.k > spec.roster_size:
            out.append(f"rule {s.rule_id!r} asks {s.k} drivers starting {s.position}th or worse, more than the {spec.roster_size} roster spots")
        elif len(deep) < s.k:
            out.append(f"rule {s.rule_id!r} asks {s.k} drivers starting {s.position}th or worse; only {len(deep)} are eligible")
        free = spec.roster_size - len([x for x in spec.locks if by_id[x].start_position < s.position])
        if free < s.k:
            out.append(f"rule {s.rule_id!r} asks {s.k} drivers starting {s.position}th or worse, but locks starting ahead "
                       f"leave {free} roster spots")
    for limits, attr, what in ((spec.team_max, "team", "team"), (spec.manufacturer_max, "manufacturer", "manufacturer")):
        for lim in limits:
            groups: dict[str, list[str]] = {}
            for x in spec.locks:
                key = getattr(by_id[x], attr)
                if key and (lim.key == "*" or key == lim.key):
                    groups.setdefault(key, []).append(_who(spec, x))
            for key, names in groups.items():
                if len(names) > lim.k:
                    out.append(f"rule {lim.rule_id!r} allows at most {lim.k} driver(s) per {what}, but locks "
                               f"{', '.join(names)} are all {key}")
    mins = [(d, d.min_exposure) for d in spec.drivers if d.min_exposure > 0]
    total = sum(m for _, m in mins)
    if total > spec.roster_size + 1e-9:
        listing = ", ".join(f"{d.name} {m:.0%}" for d, m in mins)
        out.append(f"minimum exposures add to {total:.1f} drivers per lineup, more than {spec.roster_size} roster spots ({listing})")
    for d in spec.drivers:
        if d.min_exposure > 0 and d.driver_id in spec.excludes:
            out.append(f"{d.name} has a minimum exposure of {d.min_exposure:.0%} (rule {exposure_src.get(d.driver_id, SLATE)!r}) "
                       f"but is excluded (rule {spec.excludes[d.driver_id]!r})")
        if d.max_exposure < 1 and d.driver_id in spec.locks:
            out.append(f"{d.name} is locked (rule {spec.locks[d.driver_id]!r}) but capped at {d.max_exposure:.0%} exposure "
                       f"(rule {exposure_src.get(d.driver_id, SLATE)!r})")
    if spec.race_length:
        ids = list(spec.laps_led)
        try:
            check_laps_led_bounds([_who(spec, x) for x in ids], [spec.laps_led[x].min for x in ids],
                                  [-1 if spec.laps_led[x].max is None else spec.laps_led[x].max for x in ids], spec.race_length)
        except SimulationError as exc:
            rules = sorted({spec.laps_led[x].rule_id for x in ids if spec.laps_led[x].min})
            out.append(f"{exc} (rules {', '.join(rules)})")
    return out


def describe_rule(rule: Rule) -> str:
    """A rule in plain words."""
    scope = []
    if rule.series:
        from engine.core.series import SHORT_NAMES

        scope.append(f"in the {SHORT_NAMES[rule.series.value]} series")
    if rule.track_type:
        scope.append(f"at {rule.track_type.replace('_', ' ')} tracks")
    if rule.site:
        scope.append(f"on {rule.site.value.upper()}")
    where = (" " + " ".join(scope)) if scope else ""
    who = ", ".join(rule.drivers)
    k = rule.kind
    if k is RuleKind.MIN_STARTING_BEHIND:
        text = f"at least {rule.k} drivers starting {rule.position}th or worse"
    elif k is RuleKind.MAX_PER_TEAM:
        text = f"at most {rule.k} drivers of {rule.team or 'any one team'}"
    elif k is RuleKind.MAX_PER_MANUFACTURER:
        text = f"at most {rule.k} drivers of {rule.manufacturer or 'any one manufacturer'}"
    elif k is RuleKind.GROUP:
        bounds = " and ".join(x for x in (f"at least {int(rule.min)}" if rule.min is not None else "",
                                          f"at most {int(rule.max)}" if rule.max is not None else "") if x)
        text = f"{bounds} of {who}"
    elif k is RuleKind.LOCK:
        text = f"lock {who}"
    elif k is RuleKind.EXCLUDE:
        text = f"exclude {who}"
    elif k is RuleKind.EXPOSURE:
        text = f"{who} in {rule.min or 0:.0%} to {1 if rule.max is None else rule.max:.0%} of lineups"
    else:
        text = f"{who} leads {int(rule.min or 0)} to {'any' if rule.max is None else int(rule.max)} laps"
    return (text + where).strip()


def describe_spec(spec: ConstraintSpec) -> list[str]:
    """The spec in plain words, one line per constraint."""
    lines = [
        f"{spec.site.value.upper()} lineups of {spec.roster_size} drivers under a {_money(spec.salary_cap)} salary cap",
        f"track {spec.track_id or 'unknown'} ({(spec.track_type or 'unknown type').replace('_', ' ')}), "
        f"{spec.race_length or '?'} laps, {spec.field_size} cars; laps led add up to the laps run",
    ]
    lines += [f"lock {_who(spec, x)} ({r})" for x, r in spec.locks.items()]
    lines += [f"exclude {_who(spec, x)} ({r})" for x, r in spec.excludes.items()]
    lines += [f"at most {c.k} drivers of {'any one team' if c.key == '*' else c.key} ({c.rule_id})" for c in spec.team_max]
    lines += [f"at most {c.k} drivers of {'any one manufacturer' if c.key == '*' else c.key} ({c.rule_id})" for c in spec.manufacturer_max]
    lines += [f"at least {s.k} drivers starting {s.position}th or worse ({s.rule_id})" for s in spec.start_min]
    for g in spec.groups:
        names = ", ".join(_who(spec, x) for x in g.drivers)
        parts = [p for p in (f"at least {g.min}" if g.min is not None else "", f"at most {g.max}" if g.max is not None else "") if p]
        lines.append(f"{' and '.join(parts)} of {names} ({g.rule_id})")
    for d in spec.drivers:
        if d.min_exposure > 0 or d.max_exposure < 1:
            lines.append(f"{d.name} in {d.min_exposure:.0%} to {d.max_exposure:.0%} of lineups")
    for x, b in spec.laps_led.items():
        lines.append(f"{_who(spec, x)} leads {b.min} to {'any number of' if b.max is None else b.max} laps in every simulated race ({b.rule_id})")
    return lines + [f"note: {n}" for n in spec.notes]


RULE_COLUMNS = ["rule_id", "kind", "enabled", "series", "track_type", "site", "team", "manufacturer", "drivers", "k", "position",
                "min", "max", "description"]


def rules_table(rules: list[Rule]):
    """Rules as an editable table (drivers comma separated)."""
    import pandas as pd

    rows = [{**r.model_dump(mode="json"), "drivers": ", ".join(r.drivers)} for r in rules]
    return pd.DataFrame(rows, columns=RULE_COLUMNS)


def rules_from_table(df) -> list[Rule]:
    """Rules from an edited table; every bad value is named by row, rule id and field
    (ContractError). Blank rows are ignored."""
    import pandas as pd

    from engine.core.contracts import validate_rules

    items = []
    for k, row in enumerate(df.to_dict("records")):
        if not row.get("rule_id") and not row.get("kind"):
            continue
        clean = {c: (None if (v is None or (isinstance(v, float) and pd.isna(v)) or v == "") else v) for c, v in row.items()}
        clean["drivers"] = [x.strip() for x in str(clean.get("drivers") or "").split(",") if x.strip()]
        clean["enabled"] = True if clean.get("enabled") is None else bool(clean["enabled"])
        clean["description"] = clean.get("description") or ""
        for f in ("k", "position"):
            if clean.get(f) is not None:
                clean[f] = int(clean[f])
        items.append((f"rule row {k + 1} ({clean.get('rule_id') or 'no id'})", clean))
    return validate_rules(items)
