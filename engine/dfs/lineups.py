"""The lineup problem of a constraint spec, and the solvers.

Each constraint family of the ConstraintSpec is one small rule object adding its rows to a
pulp model (roster and cap, locks and excludes, per-team and per-manufacturer caps, starting
position minimums, groups); one solver interface, pulp's bundled CBC or HiGHS through highspy.
When no lineup meets the rules, a deletion filter names the families that conflict. Every
lineup under the cap can also be listed (when there are few enough), for exact choices
without a solver run per lineup."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pulp

from engine.dfs.constraints import ConstraintSpec

SOLVERS = ("cbc", "highs")


class OptimizerError(ValueError):
    """The request cannot be optimized; ``messages`` name the constraints involved."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("; ".join(messages))


def make_solver(name: str):
    """One solver interface: pulp's bundled CBC or HiGHS through highspy."""
    if name == "cbc":
        with warnings.catch_warnings():  # pulp 3.3 announces that 4.0 drops its bundled CBC (hence pulp<4)
            warnings.simplefilter("ignore", DeprecationWarning)
            # no -threads: CBC's threaded search with one thread sometimes waits 10 s for it to start
            return pulp.PULP_CBC_CMD(msg=False)
    if name == "highs":
        return pulp.HiGHS(msg=False, threads=1)
    raise OptimizerError([f"unknown solver {name!r}: expected one of {', '.join(SOLVERS)}"])


@dataclass(frozen=True)
class Problem:
    """The lineup decision of a spec: drivers with salaries and the constraint families."""

    spec: ConstraintSpec
    ids: tuple[str, ...]
    names: tuple[str, ...]
    salary: np.ndarray
    start: np.ndarray
    locks: frozenset[int]
    excludes: frozenset[int]
    caps: tuple[tuple[str, str, tuple[int, ...], int], ...]  # (rule_id, label, members, at most k)
    starts: tuple[tuple[str, int, tuple[int, ...], int], ...]  # (rule_id, position, members, at least k)
    groups: tuple[tuple[str, tuple[int, ...], int | None, int | None], ...]
    min_exposure: np.ndarray
    max_exposure: np.ndarray

    @property
    def roster(self) -> int:
        return self.spec.roster_size

    @property
    def cap(self) -> int:
        return self.spec.salary_cap

    @property
    def n(self) -> int:
        return len(self.ids)


def problem_from_spec(spec: ConstraintSpec) -> Problem:
    """The optimizer's view of a spec; drivers without a salary are an error naming them."""
    unpriced = [d.name for d in spec.drivers if d.salary is None and d.driver_id not in spec.excludes]
    if unpriced:
        raise OptimizerError([
            f"no salary for {len(unpriced)} driver(s): {', '.join(unpriced[:8])}{'...' if len(unpriced) > 8 else ''}; "
            "load a DraftKings / FanDuel salary file or enter the salaries (or exclude those drivers)"
        ])
    ids = tuple(d.driver_id for d in spec.drivers)
    pos = {x: i for i, x in enumerate(ids)}
    caps = []
    for lim, attr in [(c, "team") for c in spec.team_max] + [(c, "manufacturer") for c in spec.manufacturer_max]:
        values = sorted({getattr(d, attr) for d in spec.drivers if getattr(d, attr)}) if lim.key == "*" else [lim.key]
        for v in values:
            members = tuple(i for i, d in enumerate(spec.drivers) if getattr(d, attr) == v)
            if len(members) > lim.k:
                caps.append((lim.rule_id, f"{attr} {v}", members, lim.k))
    starts = tuple((s.rule_id, s.position, tuple(i for i, d in enumerate(spec.drivers) if (d.start_position or 0) >= s.position), s.k)
                   for s in spec.start_min)
    groups = tuple((g.rule_id, tuple(pos[x] for x in g.drivers), g.min, g.max) for g in spec.groups)
    return Problem(
        spec=spec, ids=ids, names=tuple(d.name for d in spec.drivers),
        salary=np.array([d.salary or 0 for d in spec.drivers], dtype=np.int64),
        start=np.array([d.start_position or 0 for d in spec.drivers], dtype=np.int64),
        locks=frozenset(pos[x] for x in spec.locks), excludes=frozenset(pos[x] for x in spec.excludes),
        caps=tuple(caps), starts=starts, groups=groups,
        min_exposure=np.array([d.min_exposure for d in spec.drivers]), max_exposure=np.array([d.max_exposure for d in spec.drivers]),
    )


class LineupRule:
    """One constraint family: adds its rows to the model; ``label`` names it in messages."""

    label = "rule"

    def add(self, lp: pulp.LpProblem, x: list[pulp.LpVariable], p: Problem) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class RosterAndCap(LineupRule):
    def __init__(self, p: Problem):
        self.label = f"{p.roster} drivers under the {p.cap:,} salary cap"

    def add(self, lp, x, p):
        lp += pulp.lpSum(x) == p.roster, "roster"
        lp += pulp.lpSum(int(p.salary[i]) * x[i] for i in range(p.n)) <= p.cap, "cap"


class LocksAndExcludes(LineupRule):
    def __init__(self, p: Problem):
        parts = [f"lock {p.names[i]} ({p.spec.locks[p.ids[i]]})" for i in sorted(p.locks)]
        parts += [f"exclude {p.names[i]} ({p.spec.excludes[p.ids[i]]})" for i in sorted(p.excludes)]
        self.label = ", ".join(parts)

    def add(self, lp, x, p):
        for i in p.locks:
            x[i].lowBound = 1
        for i in p.excludes:
            x[i].upBound = 0


class CountCap(LineupRule):
    def __init__(self, rule_id: str, what: str, members: tuple[int, ...], k: int):
        self.rule_id, self.members, self.k = rule_id, members, k
        self.label = f"at most {k} of {what} (rule {rule_id})"

    def add(self, lp, x, p):
        lp += pulp.lpSum(x[i] for i in self.members) <= self.k


class StartMinimum(LineupRule):
    def __init__(self, rule_id: str, position: int, members: tuple[int, ...], k: int):
        self.members, self.k = members, k
        self.label = f"at least {k} drivers starting {position}th or worse (rule {rule_id})"

    def add(self, lp, x, p):
        lp += pulp.lpSum(x[i] for i in self.members) >= self.k


class GroupBounds(LineupRule):
    def __init__(self, rule_id: str, members: tuple[int, ...], lo: int | None, hi: int | None, names: tuple[str, ...]):
        self.members, self.lo, self.hi = members, lo, hi
        bounds = " and ".join(b for b in (f"at least {lo}" if lo is not None else "", f"at most {hi}" if hi is not None else "") if b)
        self.label = f"{bounds} of {', '.join(names[i] for i in members)} (rule {rule_id})"

    def add(self, lp, x, p):
        expr = pulp.lpSum(x[i] for i in self.members)
        if self.lo is not None:
            lp += expr >= self.lo
        if self.hi is not None:
            lp += expr <= self.hi


def lineup_rules(p: Problem) -> list[LineupRule]:
    rules: list[LineupRule] = [RosterAndCap(p)]
    if p.locks or p.excludes:
        rules.append(LocksAndExcludes(p))
    rules += [CountCap(r, what, m, k) for r, what, m, k in p.caps]
    rules += [StartMinimum(r, pos, m, k) for r, pos, m, k in p.starts]
    rules += [GroupBounds(r, m, lo, hi, p.names) for r, m, lo, hi in p.groups]
    return rules


@dataclass
class _Solved:
    members: list[int]
    status: str


def solve_lineup(p: Problem, coef: np.ndarray, solver: str, extra: list[LineupRule] | None = None,
           forced_in: set[int] = frozenset(), forced_out: set[int] = frozenset(), previous: list[list[int]] = (),
           min_unique: int = 0, skip: set[int] = frozenset()) -> _Solved:
    lp = pulp.LpProblem("lineup", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(p.n)]
    rules = [r for k, r in enumerate(lineup_rules(p) + list(extra or [])) if k not in skip]
    for r in rules:
        r.add(lp, x, p)
    for i in forced_in:
        x[i].lowBound = 1
    for i in forced_out:
        x[i].upBound = 0
    for j, prev in enumerate(previous):
        lp += pulp.lpSum(x[i] for i in prev) <= p.roster - min_unique, f"unique_{j}"
    lp.setObjective(pulp.lpSum(float(coef[i]) * x[i] for i in range(p.n)))
    lp.solve(make_solver(solver))
    status = pulp.LpStatus[lp.status]
    if status != "Optimal":
        return _Solved([], status)
    return _Solved(sorted(i for i in range(p.n) if (x[i].value() or 0) > 0.5), status)


def explain_infeasible(p: Problem, coef: np.ndarray, solver: str, **kw) -> list[str]:
    """A minimal set of constraint families that cannot hold together (deletion filter)."""
    rules = lineup_rules(p)
    keep = set(range(len(rules)))
    for k in range(1, len(rules)):  # the roster and cap (0) always stay
        trial = keep - {k}
        if not solve_lineup(p, coef, solver, skip=set(range(len(rules))) - trial, **kw).members:
            keep = trial
    names = [rules[k].label for k in sorted(keep)]
    portfolio = []
    if kw.get("previous"):
        portfolio.append(f"at least {kw.get('min_unique')} different drivers from each of the {len(kw['previous'])} earlier lineups")
    if kw.get("forced_in") or kw.get("forced_out"):
        portfolio.append("exposure bounds at this point of the portfolio")
    return names + portfolio


def rule_violations(p: Problem, lineups: np.ndarray, skip_start: int | None = None) -> np.ndarray:
    """Which lineups (rows of driver indices) break a team / manufacturer cap, a starting
    position rule (but rule ``skip_start``) or a group. Roster, cap, locks and excludes are the
    caller's (they are built into the lineups)."""
    bad = np.zeros(len(lineups), dtype=bool)
    member = np.zeros(p.n, dtype=bool)

    def count(members) -> np.ndarray:
        member[:] = False
        member[list(members)] = True
        return member[lineups].sum(axis=1)

    for _, _, members, k in p.caps:
        bad |= count(members) > k
    for idx, (_, _, members, k) in enumerate(p.starts):
        if idx != skip_start:
            bad |= count(members) < k
    for _, members, lo, hi in p.groups:
        cnt = count(members)
        bad |= (cnt < (lo or 0)) | (cnt > (p.roster if hi is None else hi))
    return bad


ENUM_LIMIT = 8_000_000
_FEASIBLE_CACHE: dict[str, np.ndarray | None] = {}


def feasible_lineups(p: Problem, limit: int = ENUM_LIMIT) -> np.ndarray | None:
    """Cached by the spec hash (the spec holds every lineup constraint); see ``_feasible_lineups``."""
    key = f"{p.spec.spec_hash}:{limit}"
    if key not in _FEASIBLE_CACHE:
        if len(_FEASIBLE_CACHE) >= 4:
            _FEASIBLE_CACHE.pop(next(iter(_FEASIBLE_CACHE)))
        _FEASIBLE_CACHE[key] = _feasible_lineups(p, limit)
    return _FEASIBLE_CACHE[key]


def _feasible_lineups(p: Problem, limit: int = ENUM_LIMIT) -> np.ndarray | None:
    """Every lineup meeting the spec's lineup constraints (rows of sorted driver indices),
    or None when there would be more than ``limit`` of them to enumerate. Partial lineups
    are pruned on salary (what is left must still buy the remaining spots at the cheapest
    price), so only lineups under the cap are ever built."""
    locks = sorted(p.locks)
    free = np.array([i for i in range(p.n) if i not in p.excludes and i not in p.locks], dtype=np.int64)
    r = p.roster - len(locks)
    budget = p.cap - int(p.salary[locks].sum())
    if r < 0 or len(free) < r or math.comb(len(free), r) > 4 * limit:
        return None if r >= 0 and len(free) >= r else np.zeros((0, p.roster), dtype=np.int16)
    lineups = combos_under_cap(p.salary[free], r, budget, limit, labels=free)  # rows of driver indices, ascending
    if lineups is None:
        return None
    if len(lineups) == 0:
        return np.zeros((0, p.roster), dtype=np.int16)
    if locks:
        lineups = np.sort(np.hstack([np.tile(np.array(locks, dtype=np.int16), (len(lineups), 1)), lineups]), axis=1)
    ok = ~rule_violations(p, lineups)
    return lineups if ok.all() else lineups[ok]


def combos_under_cap(sal: np.ndarray, r: int, budget: int, limit: int = ENUM_LIMIT,
                     labels: np.ndarray | None = None) -> np.ndarray | None:
    """Every set of ``r`` of these salaries costing at most ``budget`` (rows of sorted indices,
    int16; of ``labels[i]`` instead of ``i`` when given, an increasing array), or None when
    there are more than ``limit``. Partial sets are pruned on salary (what is left must still
    buy the remaining spots at the cheapest price)."""
    sal = np.asarray(sal, np.int64)
    lab = np.arange(len(sal)) if labels is None else np.asarray(labels, np.int64)
    cheapest = np.sort(sal)
    combos = np.zeros((1, 0), dtype=np.int16)
    spent = np.zeros(1, dtype=np.int64)
    for step in range(r):
        need = int(cheapest[: r - step - 1].sum())
        last = combos[:, -1].astype(np.int64) if step else np.full(len(combos), -1)  # ascending: parts go in label order
        picks = []
        for v in range(len(sal)):
            before = int(np.searchsorted(last, lab[v]))  # the rows whose last driver comes before v
            rows = np.flatnonzero(spent[:before] <= budget - sal[v] - need)
            if rows.size:
                picks.append((v, rows))
        total = sum(len(rows) for _, rows in picks)
        if total > limit:
            return None
        if not total:
            return np.zeros((0, r), dtype=np.int16)
        grown = np.empty((total, step + 1), dtype=np.int16)
        grown_spent = np.empty(total, dtype=np.int64)
        at = 0
        for v, rows in picks:
            grown[at : at + len(rows), :step] = combos[rows]
            grown[at : at + len(rows), step] = lab[v]
            grown_spent[at : at + len(rows)] = spent[rows] + sal[v]
            at += len(rows)
        combos, spent = grown, grown_spent
    return combos
