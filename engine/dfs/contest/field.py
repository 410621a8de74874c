"""The contest field: projected ownership and a field of opponent lineups drawn to match it.

* Ownership: a driver's projected share of field lineups, in percent (a lineup of R drivers
  makes the shares sum to R x 100%). The default model is an ASSUMPTION, not a fit: no public
  ownership history ships to fit one. Each driver gets a score, half its simulated mean points
  and half its points per $1,000 of salary (each standardized); the shares are those of a field
  in which every legal lineup (between the salary floor and the cap) is drawn with probability
  proportional to exp(SHARPNESS x the sum of its drivers' scores). So they sum to R x 100% and
  respect the salary rules by construction; with SHARPNESS 0.4 the chalk lands at 40-65%.
  Drivers who are out get 0. Analysts edit it or import their own (``read_ownership_csv``).
* Field: the same kind of draw with weights fitted to the targets: the maximum-entropy
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
TOLERANCE_PP = 2.0  # field share within this many points of the target (the promise)


def default_ownership(mean_points: np.ndarray, salary: np.ndarray, racing: np.ndarray, roster: int, cap: int, floor: int,
                      lineups: np.ndarray | None = None) -> np.ndarray:
    """Projected ownership in percent (see the module docstring: an assumption, not a fit).
    The shares are those of a field whose lineups (every legal one, between ``floor`` and
    ``cap``) are drawn with probability proportional to exp(SHARPNESS x the sum of their
    drivers' scores), so they sum to roster x 100% and respect the salary band by construction."""
    mean_points = np.asarray(mean_points, float)
    salary = np.asarray(salary, np.int64)
    ok = np.asarray(racing, bool) & (salary > 0)
    if ok.sum() < roster:
        return np.zeros(mean_points.size)

    def z(x):
        sd = x[ok].std()
        return (x - x[ok].mean()) / (sd if sd > 0 else 1.0)

    score = 0.5 * z(mean_points) + 0.5 * z(1000 * mean_points / np.where(salary > 0, salary, 1))
    if lineups is None:
        lineups = legal_lineups(salary, ok, roster, cap, floor)
    if len(lineups) == 0:
        return np.zeros(mean_points.size)
    _, own = _shares(lineups, np.where(ok, SHARPNESS * score, -np.inf), mean_points.size)
    return np.round(own, 2)


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
                 names: list[str] | None = None, lineups: np.ndarray | None = None) -> Field:
    """A field of ``n`` legal lineups whose driver shares match ``target_pct`` (see the module
    docstring). The lineups are drawn from all legal lineups with probability proportional to
    the product of their drivers' weights; the weights are fitted by iterative proportional
    fitting of the expected shares (exact, over every legal lineup) to the targets."""
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
    if lineups is None:
        lineups = legal_lineups(salary, eligible, roster, cap, floor)
    else:
        lineups = lineups[eligible[lineups].all(axis=1)]
    if len(lineups) == 0:
        raise ContestError(f"no lineup of the drivers with an ownership above 0 costs between ${floor:,} and ${cap:,}")
    playable = np.bincount(lineups.ravel(), minlength=d) > 0
    for k in np.flatnonzero(eligible & ~playable):
        notes.append(f"{names[k]} (${int(salary[k]):,}) is in no lineup between the ${floor:,} floor and the ${cap:,} cap: priced out")
    theta, it = _fit_weights(lineups, target, playable)
    p, expected = _shares(lineups, theta, d)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    pick = rng.choice(len(lineups), size=n, p=p)
    uniq_idx, counts = np.unique(pick, return_counts=True)
    drawn = lineups[uniq_idx]
    realized = 100 * np.bincount(drawn.ravel(), weights=np.repeat(counts, roster), minlength=d) / n
    notes += field_notes(names, target, expected, realized, n, playable, bool(notes))
    return Field(drawn, counts, target, realized, theta, it, notes, lineups, p)


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
OWNERSHIP_MODEL = ("default ownership (an assumption: no public ownership history ships to fit it): the driver shares of a field "
                   "drawing every legal lineup with probability proportional to exp(0.4 x the sum of its drivers' scores), a "
                   "score being half simulated mean points and half points per $1,000 of salary, each standardized")
FIELD_METHOD = ("field: the maximum-entropy distribution over every legal lineup (salary floor to cap) whose driver shares equal "
                "the targets (iterative proportional fitting of driver weights, solved as its dual with L-BFGS), sampled with the seed")


def ownership_targets(mean_points: np.ndarray, salary: np.ndarray, racing: np.ndarray, roster: int, cap: int, floor: int,
                      given: dict[int, float] | None = None, lineups: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """Each driver's target ownership: the analyst's where given, the default model's elsewhere
    (rescaled so that all targets sum to roster x 100% when the given ones leave room)."""
    own = default_ownership(mean_points, salary, racing, roster, cap, floor, lineups)
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
