"""The contest field: projected ownership and a field of opponent lineups drawn to match it.

* Ownership: a driver's projected share of field lineups, in percent (a lineup of R drivers
  makes the shares sum to R x 100%). The model (``FieldModel``) is fitted on the user's imported
  DraftKings contests (engine.dfs.contest.review; no public ownership history ships) and is an
  ASSUMPTION until there are enough. Each driver gets a score, a mix of its simulated mean points
  and its points per $1,000 of salary (each standardized); the shares are those of a field in
  which every legal lineup (between the salary floor and the cap) is drawn with probability
  proportional to exp(sharpness x the sum of its drivers' scores + lambda x the lineup's
  percentile by projected points), lambda giving the field its strength. So they sum to
  R x 100% and respect the salary rules by construction. Drivers who are out get 0. Analysts
  edit it or import their own (``read_ownership_csv``).
* Field: drawn from the ownership model's own lineup distribution when every target is the
  model's (``model_distribution``); when the analyst gives some ownerships, the same kind of
  draw with weights fitted to the targets: the maximum-entropy
  distribution over every legal lineup whose driver shares equal the targets (what iterative
  proportional fitting of the driver weights converges to, solved as its convex dual with
  L-BFGS), then N lineups drawn from it with the seed. Illegal lineups never occur (they are
  not in the enumeration). Chalky lineups repeat as in real fields, because they carry the most
  probability. Targets that no field can meet are reported with the reason (the shares do not
  sum to R x 100%; they imply an average salary outside the floor-cap band; a driver priced
  out), and the field is the nearest the rules allow."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

from engine.dfs.contest.payouts import ContestError

RIDGE = 1e-4  # on the driver log-weights of the field fit (see _fit_weights)
SHARPNESS = 0.4  # of the default ownership model: its chalk lands near 40-60%, as NASCAR DK chalk commonly does (an assumption)
POINTS_WEIGHT = 0.5  # of the default ownership model: the score's share of mean points (the rest: points per $1,000)
STRENGTH = 0.80  # assumed field strength without imported contests: see FieldModel
TOLERANCE_PP = 2.0  # field share within this many points of the target (the promise)


@dataclass(frozen=True)
class FieldModel:
    """How the field is modelled: the ownership model's ``sharpness`` and ``points_weight`` (its
    driver score: points_weight x standardized mean points + the rest x standardized points per
    $1,000), and the field's ``strength``: the mean, over the field's lineups, of each lineup's
    percentile among the legal lineups by projected points. The ownership model's lineup
    distribution, exp(sharpness x lineup score), is tilted by exp(lambda x percentile) until its
    mean percentile is ``strength`` (None: no tilt): a stronger field plays better-projected
    lineups, so its ownership is chalkier (a field's mean projection is fixed by its ownership).
    ``source`` says where the values come from: "assumption" (no imported contests, or fewer than
    engine.dfs.contest.standings.MIN_CONTESTS) or "fitted" on ``contests`` imported DraftKings
    contests."""

    sharpness: float = SHARPNESS
    points_weight: float = POINTS_WEIGHT
    strength: float | None = STRENGTH
    source: str = "assumption"
    contests: int = 0

    def describe(self) -> str:
        strength = ("no strength tilt (the plain maximum-entropy field)" if self.strength is None else
                    f"field strength: its lineups project, on average, at the {100 * self.strength:.0f}th percentile of "
                    "legal lineups")
        if self.source == "fitted":
            return (f"field model fitted on {self.contests} imported DraftKings contests: ownership sharpness "
                    f"{self.sharpness:g}, points weight {self.points_weight:g}; {strength}")
        return (f"field model: an ASSUMPTION (fitted once at least 5 DraftKings contests are imported with `pitwall contest "
                f"import`): ownership sharpness {self.sharpness:g}, points weight {self.points_weight:g}; {strength}")

    def as_dict(self) -> dict:
        return {"source": self.source, "contests": self.contests, "sharpness": self.sharpness, "points_weight": self.points_weight,
                "strength": self.strength}


def with_strength(model: FieldModel, text: str | None) -> FieldModel:
    """The model with the strength a user asked for: "auto" (or nothing) keeps it, "none" drops
    the tilt, a number is the mean lineup percentile (0.85 or 85%). ValueError naming the value otherwise."""
    from dataclasses import replace

    t = (text or "auto").strip().lower()
    if t == "auto":
        return model
    if t == "none":
        return replace(model, strength=None)
    try:
        number = float(t.rstrip("%"))
    except ValueError:
        raise ValueError(f"field strength {text!r}: give auto, none, or a mean lineup percentile between 0 and 1 (e.g. 0.85)") from None
    value = number / 100 if t.endswith("%") or number > 1 else number
    if not 0 < value < 1:
        raise ValueError(f"field strength {text!r}: a mean lineup percentile is between 0 and 1 (e.g. 0.85)")
    return replace(model, strength=value)


def model_distribution(mean_points: np.ndarray, salary: np.ndarray, racing: np.ndarray, roster: int, cap: int, floor: int,
                       lineups: np.ndarray | None = None, model: FieldModel | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ownership model's field: every legal lineup of drivers who can race (between ``floor``
    and ``cap``) with its probability, proportional to exp(sharpness x the sum of its drivers'
    scores + lambda x its percentile by projected points), lambda giving the model's strength
    (none without one). Returns (lineups, probabilities); empty when no lineup is legal."""
    model = model or FieldModel()
    mean_points = np.asarray(mean_points, float)
    salary = np.asarray(salary, np.int64)
    ok = np.asarray(racing, bool) & (salary > 0)
    if ok.sum() < roster:
        return np.zeros((0, roster), np.int64), np.zeros(0)

    def z(x):
        sd = x[ok].std()
        return (x - x[ok].mean()) / (sd if sd > 0 else 1.0)

    w = model.points_weight
    score = w * z(mean_points) + (1 - w) * z(1000 * mean_points / np.where(salary > 0, salary, 1))
    if lineups is None:
        lineups = legal_lineups(salary, ok, roster, cap, floor)
    else:
        lineups = lineups[ok[lineups].all(axis=1)]
    if len(lineups) == 0:
        return lineups, np.zeros(0)
    logit = model.sharpness * np.where(ok, score, 0.0)[lineups].sum(axis=1)
    if model.strength is not None:
        quality = lineup_percentiles(lineups, mean_points)
        logit = logit + strength_tilt(logit, quality, model.strength) * quality
    p = np.exp(logit - logit.max())
    return lineups, p / p.sum()


def default_ownership(mean_points: np.ndarray, salary: np.ndarray, racing: np.ndarray, roster: int, cap: int, floor: int,
                      lineups: np.ndarray | None = None, model: FieldModel | None = None) -> np.ndarray:
    """Projected ownership in percent (see the module docstring: an assumption unless ``model``
    was fitted): the driver shares of the model's field (``model_distribution``), so they sum to
    roster x 100% and respect the salary band by construction."""
    lineups, p = model_distribution(mean_points, salary, racing, roster, cap, floor, lineups, model)
    if not len(p):
        return np.zeros(len(mean_points))
    own = 100 * np.bincount(lineups.ravel(), weights=np.repeat(p, lineups.shape[1]), minlength=len(mean_points))
    return np.round(own, 2)


def strength_tilt(logit: np.ndarray, quality: np.ndarray, target: float, bound: float = 200.0) -> float:
    """The lambda whose lineup distribution exp(logit + lambda x quality) has mean quality
    ``target``: the mean rises with lambda, so Newton steps kept inside a shrinking bracket
    (bisection where a step would leave it) find it; a target beyond what lambda = +/- ``bound``
    gives is met as nearly as the salary rules allow."""
    def moments(lam: float) -> tuple[float, float]:
        x = logit + lam * quality
        p = np.exp(x - x.max())
        p /= p.sum()
        m = float(p @ quality)
        return m, float(p @ (quality - m) ** 2)

    lo, hi = -bound, bound
    if moments(lo)[0] >= target:
        return lo
    if moments(hi)[0] <= target:
        return hi
    lam = 0.0
    for _ in range(100):
        m, v = moments(lam)
        f = m - target
        if abs(f) < 1e-7:
            break
        if f > 0:
            hi = lam
        else:
            lo = lam
        step = lam - f / v if v > 1e-12 else np.nan
        lam = step if lo < step < hi else (lo + hi) / 2
        if hi - lo < 1e-9:
            break
    return lam


def lineup_percentiles(lineups: np.ndarray, mean_points: np.ndarray) -> np.ndarray:
    """Each lineup's percentile (0 to 1) among ``lineups`` by projected points (the sum of its
    drivers' mean points): the lineup-quality measure of the field strength."""
    proj = np.asarray(mean_points, float)[lineups].sum(axis=1)
    if len(proj) < 2:
        return np.ones(len(proj))
    order = np.argsort(proj, kind="stable")
    pct = np.empty(len(proj))
    pct[order] = np.arange(len(proj)) / (len(proj) - 1)
    return pct


def read_ownership_csv(text: str, names: list[str], ids: list[str], site_ids: list[str | None], source: str = "ownership",
                       site_names: list[str | None] | None = None) -> dict[int, float]:
    """Ownership from CSV rows (driver name or DK/FD ID, ownership %): {driver index: percent}.
    Names match like the salary files: accents, Jr., initials, the salary site's own spelling
    (``site_names``) and the curated aliases (data/name_aliases.csv, e.g. DraftKings' "John H.
    Nemechek"); every bad row is named and nothing is returned unless all rows are good."""
    from engine.core.names import name_key
    from engine.data.history import load_name_aliases

    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ContestError(f"{source}: no rows")
    has_header = not _is_number(rows[0][-1]) if rows[0] else False
    body = rows[1:] if has_header else rows
    by_key = {name_key(n): k for k, n in enumerate(names)}
    for k, n in enumerate(site_names or []):
        if n:
            by_key.setdefault(name_key(n), k)
    for alias, canonical in load_name_aliases().items():
        if name_key(canonical) in by_key:
            by_key.setdefault(name_key(alias), by_key[name_key(canonical)])
    by_id = {str(i).lower(): k for k, i in enumerate(ids)}
    by_id.update({str(i).strip().lower(): k for k, i in enumerate(site_ids) if i})
    out: dict[int, float] = {}
    errors = []
    first = 2 if has_header else 1
    for line, r in enumerate(body, start=first):
        if len(r) < 2:
            errors.append(f"row {line}: expected a driver (name or ID) and an ownership %")
            continue
        who, val = r[0].strip(), r[-1].strip().rstrip("%")
        k = by_id.get(who.lower(), by_key.get(name_key(who)))
        if k is None:
            errors.append(f"row {line}: driver {who!r} is not on the slate")
            continue
        if not _is_number(val):
            errors.append(f"row {line}: ownership {r[-1]!r} of {names[k]} is not a number")
            continue
        pct = float(val)
        if pct < 0 or pct > 100:
            errors.append(f"row {line}: ownership {pct:g}% of {names[k]} is outside 0-100")
            continue
        if k in out:
            errors.append(f"row {line}: {names[k]} appears twice")
            continue
        out[k] = pct
    if errors:
        raise ContestError(f"{source}: " + "; ".join(errors))
    return out


def _is_number(s: str) -> bool:
    try:
        return np.isfinite(float(str(s).strip().rstrip("%")))
    except ValueError:
        return False


@dataclass
class Field:
    lineups: np.ndarray  # unique lineups (F x roster driver indices, sorted)
    counts: np.ndarray  # entries of each
    target: np.ndarray  # percent per driver
    realized: np.ndarray  # percent per driver
    weights: np.ndarray
    iterations: int
    notes: list[str] = field(default_factory=list)
    pool: np.ndarray | None = None  # every legal lineup the field was drawn from
    pool_p: np.ndarray | None = None  # and its probability
    strength: float | None = None  # the field distribution's mean lineup percentile (see FieldModel), with mean_points

    @property
    def size(self) -> int:
        return int(self.counts.sum())


def legal_lineups(salary: np.ndarray, eligible: np.ndarray, roster: int, cap: int, floor: int, limit: int = 8_000_000) -> np.ndarray:
    """Every lineup of eligible drivers between the salary floor and the cap (sorted indices)."""
    from engine.dfs.lineups import combos_under_cap

    pool = np.flatnonzero(eligible)
    combos = combos_under_cap(salary[pool], roster, cap, limit)
    if combos is None:
        raise ContestError(f"more than {limit:,} legal lineups of {len(pool)} drivers: give drivers who will not be "
                           "played an ownership of 0")
    lineups = pool[combos.astype(np.int64)]
    return lineups[salary[lineups].sum(axis=1) >= floor]


def _shares(lineups: np.ndarray, theta: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Lineup probabilities (proportional to the product of their drivers' weights) and each
    driver's expected share of lineups, in percent."""
    logp = theta[lineups].sum(axis=1)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return p, 100 * np.bincount(lineups.ravel(), weights=np.repeat(p, lineups.shape[1]), minlength=d)


def _fit_weights(lineups: np.ndarray, target: np.ndarray, playable: np.ndarray) -> tuple[np.ndarray, int]:
    """Driver log-weights whose lineup distribution has the target shares: the maximum-entropy
    fit (what iterative proportional fitting converges to), solved as its convex dual
    log-sum-exp(lineup scores) - sum(weight x target share) with L-BFGS."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    d = target.size
    idx = np.flatnonzero(playable)
    t = target[idx] / 100

    def full(x):
        th = np.full(d, -np.inf)
        th[idx] = x
        return th

    def f(x):
        th = full(x)
        scores = th[lineups].sum(axis=1)
        lse = logsumexp(scores)
        p = np.exp(scores - lse)
        m = np.bincount(lineups.ravel(), weights=np.repeat(p, lineups.shape[1]), minlength=d)[idx]
        return lse - x @ t + RIDGE / 2 * (x - x0) @ (x - x0), m - t + RIDGE * (x - x0)

    x0 = np.log(np.maximum(t, 1e-6))
    # targets no lineup set can meet make the dual unbounded: the small ridge and the bounds keep
    # the weights finite there (the nearest field the salary rules allow), at no visible cost otherwise
    res = minimize(f, x0, jac=True, method="L-BFGS-B", bounds=[(a - 12, a + 12) for a in x0],
                   options={"maxiter": 300, "maxfun": 600, "gtol": 1e-7})
    return full(res.x), int(res.nit)


def sample_field(target_pct: np.ndarray, salary: np.ndarray, roster: int, cap: int, floor: int, n: int, seed: int,
                 names: list[str] | None = None, lineups: np.ndarray | None = None, mean_points: np.ndarray | None = None,
                 distribution: np.ndarray | None = None) -> Field:
    """A field of ``n`` legal lineups whose driver shares match ``target_pct`` (see the module
    docstring). The lineups are drawn from all legal lineups with probability proportional to
    the product of their drivers' weights; the weights are fitted by iterative proportional
    fitting of the expected shares (exact, over every legal lineup) to the targets. With
    ``mean_points``, the field's strength (its mean lineup percentile by projected points,
    ``lineup_percentiles``) is reported in ``Field.strength``; the strength itself is set by the
    ownership targets (``default_ownership``): a field's mean projection is the sum of its
    driver shares x mean points, so no reweighting of lineups with the same shares can raise it.
    ``distribution``: the probabilities of ``lineups`` to draw from as they are (the ownership
    model's own field, ``model_distribution``, whose shares are the targets) instead of fitting."""
    target = np.asarray(target_pct, float)
    salary = np.asarray(salary, np.int64)
    d = target.size
    names = names or [str(k) for k in range(d)]
    if n < 1:
        raise ContestError(f"the field needs at least one lineup (got {n})")
    bad = [names[k] for k in range(d) if not np.isfinite(target[k]) or target[k] < 0 or target[k] > 100]
    if bad:
        raise ContestError(f"ownership must be 0-100%: {', '.join(bad)}")
    notes = []
    total = target.sum()
    if abs(total - 100 * roster) > 1.0:
        notes.append(f"the target ownerships sum to {total:.1f}%, but every lineup has {roster} drivers ({100 * roster}% in all): "
                     f"the field's shares sum to {100 * roster}%, so the targets cannot all be met")
    spend = float(target @ salary) / 100
    if abs(total - 100 * roster) <= 1.0 and not floor <= spend <= cap:
        notes.append(f"the targets imply an average lineup salary of ${spend:,.0f}, outside the ${floor:,}-${cap:,} band every "
                     "field lineup spends, so they cannot all be met")
    eligible = (target > 0) & (salary > 0)
    if distribution is not None:
        if lineups is None or len(lineups) != len(distribution) or not len(lineups):
            raise ContestError("a field distribution needs its lineups, one probability each")
        p = np.asarray(distribution, float)
        playable = np.bincount(lineups.ravel(), minlength=d) > 0
        expected = 100 * np.bincount(lineups.ravel(), weights=np.repeat(p, lineups.shape[1]), minlength=d)
        theta, it = np.full(d, np.nan), 0
    else:
        if lineups is None:
            lineups = legal_lineups(salary, eligible, roster, cap, floor)
        else:
            lineups = lineups[eligible[lineups].all(axis=1)]
        if len(lineups) == 0:
            raise ContestError(f"no lineup of the drivers with an ownership above 0 costs between ${floor:,} and ${cap:,}")
        playable = np.bincount(lineups.ravel(), minlength=d) > 0
        for k in np.flatnonzero(eligible & ~playable):
            notes.append(f"{names[k]} (${int(salary[k]):,}) is in no lineup between the ${floor:,} floor and the ${cap:,} cap: "
                         "priced out")
        theta, it = _fit_weights(lineups, target, playable)
        p, expected = _shares(lineups, theta, d)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    pick = rng.choice(len(lineups), size=n, p=p)
    uniq_idx, counts = np.unique(pick, return_counts=True)
    drawn = lineups[uniq_idx]
    realized = 100 * np.bincount(drawn.ravel(), weights=np.repeat(counts, roster), minlength=d) / n
    notes += field_notes(names, target, expected, realized, n, playable, bool(notes))
    reached = float(p @ lineup_percentiles(lineups, mean_points)) if mean_points is not None else None
    return Field(drawn, counts, target, realized, theta, it, notes, lineups, p, reached)


def model_field(mean_points: np.ndarray, salary: np.ndarray, racing: np.ndarray, roster: int, cap: int, floor: int, n: int,
                seed: int, names: list[str] | None = None, lineups: np.ndarray | None = None,
                model: FieldModel | None = None) -> Field:
    """A field of ``n`` lineups drawn from the ownership model's own distribution (``model_distribution``)."""
    pool, prob = model_distribution(mean_points, salary, racing, roster, cap, floor, lineups, model)
    if not len(prob):
        raise ContestError(f"no lineup of the drivers who can race costs between ${floor:,} and ${cap:,}")
    own = 100 * np.bincount(pool.ravel(), weights=np.repeat(prob, pool.shape[1]), minlength=len(mean_points))
    return sample_field(own, salary, roster, cap, floor, n, seed, names, pool, mean_points, prob)


def field_notes(names: list[str], target: np.ndarray, expected: np.ndarray, realized: np.ndarray, n: int, playable: np.ndarray,
                explained: bool = False) -> list[str]:
    """Two kinds of miss, told apart: a target the field's distribution itself cannot give (no
    set of legal lineups meets it together with the others'), and a drawn field of ``n``
    lineups that is off by chance. A driver in each lineup with probability q lands at a share
    with standard deviation 100 sqrt(q (1 - q) / n) points, so the 95% spread is about twice that."""
    out, chance = [], []
    for k in range(len(target)):
        if not (playable[k] or target[k] == 0):
            continue
        if abs(expected[k] - target[k]) > TOLERANCE_PP:
            why = "see the notes above" if explained else "no set of legal lineups gives it its target together with the others'"
            out.append(f"{names[k]}: the field can give {expected[k]:.1f}% at best against a target of {target[k]:.1f}% ({why})")
        elif abs(realized[k] - target[k]) > TOLERANCE_PP:
            q = expected[k] / 100
            spread = 200 * np.sqrt(q * (1 - q) / n)
            chance.append(f"{names[k]} {realized[k]:.1f}% for {target[k]:.1f}% (95% spread +/-{spread:.1f})")
    if chance:
        out.append(f"off the targets by chance, as a random field of {n:,} lineups is (its distribution meets every target "
                   f"within {TOLERANCE_PP:g} points; larger fields land closer): " + "; ".join(chance))
    return out


SALARY_FLOOR = {"dk": 48_500, "fd": 48_000}  # what fields typically spend at least (default floor)
OWNERSHIP_MODEL = ("default ownership (the field model: fitted on 5+ imported DraftKings contests, else an assumption): the driver "
                   "shares of a field drawing every legal lineup with probability proportional to exp(sharpness x the sum of its "
                   "drivers' scores + a tilt towards better-projected lineups giving the field's strength), a score mixing "
                   "standardized simulated mean points and points per $1,000 of salary")
FIELD_METHOD = ("field: drawn with the seed from the ownership model's lineup distribution; where ownerships are given, from the "
                "maximum-entropy distribution over every legal lineup (salary floor to cap) whose driver shares equal the targets "
                "(iterative proportional fitting of driver weights, solved as its dual with L-BFGS)")


def ownership_targets(mean_points: np.ndarray, salary: np.ndarray, racing: np.ndarray, roster: int, cap: int, floor: int,
                      given: dict[int, float] | None = None, lineups: np.ndarray | None = None,
                      model: FieldModel | None = None) -> tuple[np.ndarray, list[str]]:
    """Each driver's target ownership: the analyst's where given, the model's elsewhere
    (rescaled so that all targets sum to roster x 100% when the given ones leave room)."""
    own = default_ownership(mean_points, salary, racing, roster, cap, floor, lineups, model)
    notes = []
    if given:
        fixed = np.zeros(own.size, bool)
        for k, v in given.items():
            own[k], fixed[k] = v, True
        room = 100 * roster - own[fixed].sum()
        rest = own[~fixed].sum()
        if room >= 0 and rest > 0:
            own[~fixed] *= room / rest
            notes.append(f"{int(fixed.sum())} ownership(s) given; the other drivers' default ownerships rescaled to fill {room:.1f}%")
        elif room < 0:
            notes.append(f"the given ownerships alone sum to {own[fixed].sum():.1f}%, more than a {roster}-driver lineup's "
                         f"{100 * roster}%")
    own[~np.asarray(racing, bool)] = 0.0
    return np.round(own, 2), notes
