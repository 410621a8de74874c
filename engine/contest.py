"""Contest simulation: a field of opponent lineups drawn from projected ownership, a payout
table, and each lineup's profit over the simulated races.

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
  out), and the field is the nearest the rules allow.
* Payouts: presets shaped like DraftKings' contests (see PRESETS) or a CSV of
  ``place_from,place_to,prize``; ties follow DraftKings' rule: tied entries split the prizes of
  the places they span equally.
* Scores are exact: fantasy points are whole cents, so scores are compared as integers.
  Ranks come from a per-race count of entries by score (no sort): entries with a higher score
  and entries with the same score give each lineup's places.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np

RIDGE = 1e-4  # on the driver log-weights of the field fit (see _fit_weights)
SHARPNESS = 0.4  # of the default ownership model: its chalk lands near 40-60%, as NASCAR DK chalk commonly does (an assumption)
TOLERANCE_PP = 2.0  # field share within this many points of the target (the promise)


class ContestError(ValueError):
    """Bad contest input: the message names the row, driver or field."""


def money(x: float, cents: bool = True) -> str:
    """Dollars as a player writes them: -$3.15, $1,234.50 (``cents=False``: -$3, $1,235)."""
    v = float(x)
    text = f"{abs(v):,.2f}" if cents else f"{abs(v):,.0f}"
    return ("-" if v < 0 and text.strip("0.,") else "") + "$" + text


# ----------------------------------------------------------------------------- payouts
@dataclass(frozen=True)
class Payouts:
    name: str
    size: int
    entry_fee: float
    prizes: np.ndarray  # prize of place 1..size (cents-exact floats), non-increasing

    @property
    def total(self) -> float:
        return float(self.prizes.sum())

    @property
    def paid_places(self) -> int:
        return int((self.prizes > 0).sum())

    @property
    def fees(self) -> float:
        return float(self.size * self.entry_fee)

    def overlay(self) -> str | None:
        """A warning when the prizes add up to more than the entry fees collect (an overlay: real
        but rare; a table typed wrong is likelier), else None."""
        if self.total <= self.fees + 0.005:
            return None
        ratio = f" ({self.total / self.fees:.1f}x)" if self.fees > 0 else ""
        return (f"the payout table pays ${self.total:,.2f} in all, more than the ${self.fees:,.2f} that {self.size:,} entries at "
                f"${self.entry_fee:g} pay in{ratio}: every ROI is inflated by that overlay; check the table")

    def rows(self) -> list[dict]:
        """place_from, place_to, prize: the table in runs of equal prizes."""
        out, k = [], 0
        while k < self.size and self.prizes[k] > 0:
            j = k
            while j + 1 < self.size and self.prizes[j + 1] == self.prizes[k]:
                j += 1
            out.append({"place_from": k + 1, "place_to": j + 1, "prize": round(float(self.prizes[k]), 2)})
            k = j + 1
        return out


def _cents(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, float) * 100 + 1e-6) / 100


def _power_table(size: int, pool: float, paid_share: float, min_cash: float, alpha: float) -> np.ndarray:
    """Prizes for a tournament: ``paid_share`` of the places paid, each at least ``min_cash``,
    the rest of the pool on a power curve (place r gets a share of r^-alpha - paid^-alpha)."""
    paid = max(1, int(round(size * paid_share)))
    while paid > 1 and paid * min_cash > pool:
        paid -= 1
    r = np.arange(1, paid + 1, dtype=float)
    extra = r**-alpha - paid**-alpha
    base = min(min_cash, pool / paid)
    prizes = base + (pool - base * paid) * extra / extra.sum() if extra.sum() > 0 else np.full(paid, pool / paid)
    prizes = _cents(prizes)
    prizes[0] += round(pool - prizes.sum(), 2)  # cents lost to rounding go to first place
    return np.concatenate([prizes, np.zeros(size - paid)])


def _flat_table(size: int, pool: float, prize: float) -> np.ndarray:
    paid = min(size, int(pool // prize))
    return np.concatenate([np.full(paid, prize), np.zeros(size - paid)])


# name -> (description, builder(size, fee)); rakes and shapes as DraftKings' contests commonly have
PRESETS = {
    "single-entry-gpp": ("single-entry tournament: 15% rake, top 22% paid, min cash 2x the fee, mild curve",
                         lambda n, fee: _power_table(n, n * fee * 0.85, 0.22, 2 * fee, 0.9)),
    "large-gpp": ("large tournament: 15% rake, top 22% paid, min cash 2x the fee, top-heavy curve (first ~10-20% of the pool)",
                  lambda n, fee: _power_table(n, n * fee * 0.85, 0.22, 2 * fee, 1.25)),
    "50-50": ("50/50: 10% rake, the top half less a few places paid 1.8x the fee",
              lambda n, fee: _flat_table(n, n * fee * 0.9, round(1.8 * fee, 2))),
    "double-up": ("double-up: 12% rake, 2x the fee to as many places as the pool pays (~44%)",
                  lambda n, fee: _flat_table(n, n * fee * 0.88, 2 * fee)),
}


def preset_payouts(name: str, size: int, entry_fee: float) -> Payouts:
    if name not in PRESETS:
        raise ContestError(f"payouts: unknown preset {name!r}; presets: {', '.join(PRESETS)} (or a CSV file place_from,place_to,prize)")
    check_contest(size, entry_fee)
    prizes = _cents(PRESETS[name][1](size, float(entry_fee)))
    return Payouts(name, int(size), float(entry_fee), prizes)


def check_contest(size: int, entry_fee: float) -> None:
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ContestError(f"contest size must be a whole number of entries of at least 2 (got {size!r})")
    if size > 1_000_000:
        raise ContestError(f"contest size {size:,} is above the 1,000,000 entries supported")
    if not np.isfinite(entry_fee) or entry_fee < 0:
        raise ContestError(f"entry fee must be 0 or more (got {entry_fee!r})")


def read_payouts_csv(text: str, size: int, entry_fee: float, source: str = "payouts") -> Payouts:
    """A payout table from CSV rows ``place_from,place_to,prize`` (prize per place). Errors
    name the row; places must start at 1, not overlap, and stay within the contest size."""
    rows = list(csv.DictReader(io.StringIO(text)))
    need = {"place_from", "place_to", "prize"}
    header = set(rows[0].keys()) if rows else set()
    if not rows or not need <= {h.strip().lower() for h in header if h}:
        raise ContestError(f"{source}: expected the columns place_from,place_to,prize (got {', '.join(sorted(h for h in header if h)) or 'no rows'})")
    parsed = []
    for k, raw in enumerate(rows, start=2):
        row = {str(a).strip().lower(): (b or "").strip() for a, b in raw.items() if a}
        try:
            parsed.append((f"row {k}", int(row["place_from"]), int(row["place_to"]), float(row["prize"].replace("$", "").replace(",", ""))))
        except ValueError:
            raise ContestError(f"{source}, row {k}: place_from and place_to must be whole numbers and prize a number "
                               f"(got {row['place_from']!r}, {row['place_to']!r}, {row['prize']!r})") from None
    return payouts_from_rows(parsed, size, entry_fee, source)


def payouts_from_rows(rows: list[tuple[str, int, int, float]], size: int, entry_fee: float, source: str = "payouts") -> Payouts:
    """A payout table from (label, place_from, place_to, prize per place) rows; errors name the
    row: places start at 1, do not overlap, stay within the contest, and never pay more than
    the place before."""
    check_contest(size, entry_fee)
    prizes = np.zeros(size)
    covered = np.zeros(size, bool)
    for label, lo, hi, prize in rows:
        if lo < 1 or hi < lo:
            raise ContestError(f"{source}, {label}: places {lo}-{hi} are not a range starting at 1 or later")
        if hi > size:
            raise ContestError(f"{source}, {label}: place {hi} is beyond the contest size {size:,}")
        if prize < 0 or not np.isfinite(prize):
            raise ContestError(f"{source}, {label}: prize {prize} must be 0 or more")
        if covered[lo - 1 : hi].any():
            raise ContestError(f"{source}, {label}: places {lo}-{hi} overlap an earlier row")
        covered[lo - 1 : hi] = True
        prizes[lo - 1 : hi] = prize
    if np.any(np.diff(prizes) > 1e-9):
        k = int(np.flatnonzero(np.diff(prizes) > 1e-9)[0])
        raise ContestError(f"{source}: place {k + 2} pays more ({prizes[k + 1]:.2f}) than place {k + 1} ({prizes[k]:.2f})")
    return Payouts(source, int(size), float(entry_fee), _cents(prizes))


# ----------------------------------------------------------------------------- ownership
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
    from engine.data import load_name_aliases
    from engine.names import name_key

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


# ----------------------------------------------------------------------------- field
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
    from engine.optimizer import combos_under_cap

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


# ----------------------------------------------------------------------------- contest
@dataclass
class ContestResult:
    payouts: Payouts
    user_payout: np.ndarray  # races x user lineups
    user_place: np.ndarray  # races x user lineups: best place of the tie group (1 = first)
    field_paid: np.ndarray  # races: prizes paid to the field
    total_paid: np.ndarray  # races: prizes paid to every entry
    duplicates: np.ndarray  # per user lineup: identical field lineups
    field_size: int

    def lineup_metrics(self) -> list[dict]:
        fee = self.payouts.entry_fee
        size = self.payouts.size
        top1 = max(1, int(np.ceil(0.01 * size)))
        top10 = max(1, int(np.ceil(0.10 * size)))
        out = []
        for u in range(self.user_payout.shape[1]):
            pay, place = self.user_payout[:, u], self.user_place[:, u]
            profit = pay.mean() - fee
            out.append({"mean_profit": round(float(profit), 2), "roi": round(float(profit / fee), 4) if fee else None,
                        "win_pct": round(100 * float((place == 1).mean()), 2), "top1_pct": round(100 * float((place <= top1).mean()), 2),
                        "top10_pct": round(100 * float((place <= top10).mean()), 2), "cash_pct": round(100 * float((pay > 0).mean()), 2),
                        "avg_duplicates": int(self.duplicates[u])})
        return out

    def portfolio(self) -> dict:
        fee = self.payouts.entry_fee
        u = self.user_payout.shape[1]
        profit = self.user_payout.sum(axis=1) - u * fee
        p5, p50, p95 = np.percentile(profit, [5, 50, 95])
        return {"lineups": u, "mean_profit": round(float(profit.mean()), 2),
                "profit_quantiles": [round(float(v), 2) for v in np.percentile(profit, np.arange(0, 101, 5))],
                "roi": round(float(profit.mean() / (u * fee)), 4) if fee else None,
                "cash_prob": round(float((self.user_payout > 0).any(axis=1).mean()), 4),
                "profit_p5": round(float(p5), 2), "profit_p50": round(float(p50), 2), "profit_p95": round(float(p95), 2)}

    def field_mean_profit(self) -> float:
        return round(float(self.field_paid.mean() / self.field_size - self.payouts.entry_fee), 2)


def _onehot(lineups: np.ndarray, d: int) -> np.ndarray:
    m = np.zeros((d, len(lineups)))
    for j in range(lineups.shape[1]):
        m[lineups[:, j], np.arange(len(lineups))] = 1.0
    return m


def _scores_in_steps(points: np.ndarray) -> np.ndarray:
    """Fantasy points as exact integers: whole cents divided by the scoring's step (5 cents on
    DraftKings), so ties are exact and the per-race counts need few bins."""
    cents = np.rint(np.asarray(points, float) * 100).astype(np.int64)
    step = int(np.gcd.reduce(np.abs(cents[cents != 0]))) if (cents != 0).any() else 1
    return cents // max(step, 1)


def _counts(scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per race (rows): entries at each score (``hist``, from the row's lowest score ``base``)
    and entries above each score (``above``), each column of ``scores`` standing for
    ``weights`` entries."""
    base = scores.min(axis=1, keepdims=True)
    span = int((scores - base).max()) + 2
    rows = scores.shape[0]
    idx = (scores - base) + np.arange(rows)[:, None] * span
    hist = np.bincount(idx.ravel(), weights=np.broadcast_to(weights, scores.shape).ravel(), minlength=rows * span)
    hist = hist.reshape(rows, span).astype(np.int32)  # counts up to a contest's size fit (1,000,000 at most)
    above = np.zeros_like(hist)  # entries scoring more than v
    np.cumsum(hist[:, :0:-1], axis=1, dtype=np.int32, out=above[:, -2::-1])
    return hist, above, base


def _places(scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each column's score in each race: entries scoring more, and entries scoring the same
    (itself included)."""
    hist, above, base = _counts(scores, weights)
    return np.take_along_axis(above, scores - base, axis=1), np.take_along_axis(hist, scores - base, axis=1)


def simulate_contest(points: np.ndarray, user: np.ndarray, fld: Field, payouts: Payouts, chunk: int = 64,
                     progress=None, cancel=None) -> ContestResult:
    """Every simulated race (rows of ``points``, fantasy points per driver, whole cents) scored
    for the user's lineups (U x roster driver indices) and the field; places with ties split as
    DraftKings does; prizes per user lineup and to the field. The user's lineups compete with
    each other as well as with the field. Memory is bounded by ``chunk`` races at a time."""
    from engine.scenarios import Cancelled

    cents = _scores_in_steps(points)
    s_all, d = cents.shape
    user = np.asarray(user, np.int64)
    n_user, n_field = len(user), fld.size
    entries = n_user + n_field
    if entries > payouts.size:
        raise ContestError(f"{n_user} lineups plus a field of {n_field:,} make {entries:,} entries, more than the contest's {payouts.size:,}")
    cum = np.concatenate([[0.0], np.cumsum(payouts.prizes[:entries])])  # cum[k] = prizes of places 1..k
    mu = _onehot(user, d)
    mf = _onehot(fld.lineups, d)
    weights = np.concatenate([fld.counts.astype(np.int64), np.ones(n_user, np.int64)])
    user_pay = np.zeros((s_all, n_user))
    user_place = np.zeros((s_all, n_user), np.int64)
    field_paid = np.zeros(s_all)
    total_paid = np.zeros(s_all)
    for lo in range(0, s_all, chunk):
        if cancel is not None and cancel():
            raise Cancelled("cancelled")
        c = cents[lo : lo + chunk].astype(float)
        fs = np.rint(c @ mf).astype(np.int64)  # races x unique field lineups
        us = np.rint(c @ mu).astype(np.int64)  # races x user lineups
        allsc = np.concatenate([fs, us], axis=1)
        better, ties = _places(allsc, weights)
        rows = allsc.shape[0]
        pay = (cum[better + ties] - cum[better]) / ties  # equal split of the places the tie group spans
        user_pay[lo : lo + rows] = pay[:, len(fld.counts):]
        user_place[lo : lo + rows] = better[:, len(fld.counts):] + 1
        field_paid[lo : lo + rows] = pay[:, : len(fld.counts)] @ fld.counts
        total_paid[lo : lo + rows] = field_paid[lo : lo + rows] + pay[:, len(fld.counts):].sum(axis=1)
        if progress is not None:
            progress(min(1.0, (lo + rows) / s_all))
    keys = {tuple(r): int(c) for r, c in zip(fld.lineups.tolist(), fld.counts)}
    dups = np.array([keys.get(tuple(sorted(r)), 0) for r in user.tolist()])
    return ContestResult(payouts, user_pay, user_place, field_paid, total_paid, dups, n_field)


# ----------------------------------------------------------------------------- lineup selection
SELECT_METHOD = ("greedy marginal gain: from the candidate pool, repeatedly add the lineup with the largest expected payout "
                 "given the field and the lineups already chosen (ranked behind those scoring more, ties split), skipping "
                 "lineups that would take a driver past the exposure limit; the chosen portfolio is then simulated as a whole")


def candidate_pool(points: np.ndarray, fld: Field, extra: np.ndarray, seed: int, field_like: int = 1000, race_optimal: int = 300,
                   chunk: int = 16) -> np.ndarray:
    """Candidate lineups (sorted driver indices, unique): ``extra`` (e.g. the optimizer's),
    the best legal lineup of ``race_optimal`` simulated races, and ``field_like`` draws from
    the field's lineup distribution."""
    if fld.pool is None or fld.pool_p is None:
        raise ContestError("the field keeps no lineup distribution to draw candidates from")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    parts = [np.sort(np.asarray(extra, np.int64), axis=1)] if len(extra) else []
    parts.append(fld.pool[rng.choice(len(fld.pool), size=field_like, p=fld.pool_p)])
    races = rng.choice(len(points), size=min(race_optimal, len(points)), replace=False)
    onehot = _onehot(fld.pool, points.shape[1])
    best = [np.argmax(points[races[lo : lo + chunk]] @ onehot, axis=1) for lo in range(0, len(races), chunk)]
    parts.append(fld.pool[np.concatenate(best)])
    return np.unique(np.concatenate(parts).astype(np.int64), axis=0)


def select_lineups(points: np.ndarray, candidates: np.ndarray, fld: Field, payouts: Payouts, n: int, max_exposure: float,
                   races: int = 2000, seed: int = 0, chunk: int = 64) -> list[int]:
    """Indices of ``n`` candidates chosen by greedy marginal gain (SELECT_METHOD) on up to
    ``races`` of the simulated races; no driver in more than ``max_exposure`` of them."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    rows = np.sort(rng.choice(len(points), size=min(races, len(points)), replace=False))
    steps = _scores_in_steps(points[rows])
    d = points.shape[1]
    mf, mc = _onehot(fld.lineups, d), _onehot(candidates, d)
    weights = np.concatenate([fld.counts.astype(np.int64), np.zeros(len(candidates), np.int64)])
    sc, better, ties = [], [], []
    for lo in range(0, len(rows), chunk):
        c = steps[lo : lo + chunk].astype(float)
        allsc = np.concatenate([np.rint(c @ mf), np.rint(c @ mc)], axis=1).astype(np.int64)
        b, t = _places(allsc, weights)  # the field's entries above and level with each candidate
        sc.append(allsc[:, len(fld.counts):])
        better.append(b[:, len(fld.counts):])
        ties.append(t[:, len(fld.counts):])
    sc, better, ties = np.concatenate(sc), np.concatenate(better), np.concatenate(ties)
    entries = fld.size + n
    if entries > payouts.size:
        raise ContestError(f"{n} lineups plus a field of {fld.size:,} make {entries:,} entries, more than the contest's {payouts.size:,}")
    cum = np.concatenate([[0.0], np.cumsum(payouts.prizes[:entries])])
    extra_b = np.zeros_like(better)
    extra_t = np.zeros_like(ties)
    limit = max(1, int(np.floor(max_exposure * n + 1e-9)))
    used = np.zeros(d, np.int64)
    allowed = np.ones(len(candidates), bool)
    chosen: list[int] = []
    for _ in range(n):
        if not allowed.any():
            raise ContestError(f"only {len(chosen)} lineups fit the {max_exposure:.0%} exposure limit among {len(candidates):,} "
                               "candidates: raise the limit or the pool")
        b = better + extra_b
        t = ties + 1 + extra_t
        gain = ((cum[np.minimum(b + t, entries)] - cum[np.minimum(b, entries)]) / t).mean(axis=0)
        gain[~allowed] = -np.inf
        k = int(np.argmax(gain))
        chosen.append(k)
        allowed[k] = False
        used[candidates[k]] += 1
        full = np.flatnonzero(used >= limit)
        if full.size:
            allowed &= ~np.isin(candidates, full).any(axis=1)
        col = sc[:, k : k + 1]
        extra_b += sc < col
        extra_t += sc == col
    return chosen


# ----------------------------------------------------------------------------- a contest on an optimize run
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


@dataclass
class ContestSetup:
    """What a contest's race blocks need (the field, the entered lineups, the payouts) and what
    its summary reports beyond the results (notes, selection)."""

    size: int
    entry_fee: float
    payouts: Payouts
    seed: int
    floor: int
    fld: Field
    user: np.ndarray
    optimizer_lineups: np.ndarray
    notes: list[str]
    selection: dict | None = None


def prepare_contest(run, size: int, entry_fee: float, payouts: Payouts, seed: int, floor: int | None = None,
                    ownership: dict[str, float] | None = None, max_entries: int | None = None, select: bool = False,
                    max_exposure: float = 1.0, progress=None) -> ContestSetup:
    """Check the contest, set the ownership targets, draw the field and (``select``) choose the
    lineups; ``progress`` hears each phase as it starts (legal lineups, ownership, field, selection)."""
    step = progress or (lambda f: None)
    step(0.0)
    p = run.portfolio.problem
    site = run.settings.site.value
    floor = SALARY_FLOOR[site] if floor is None else int(floor)
    if floor > p.cap:
        raise ContestError(f"salary floor ${floor:,} is above the ${p.cap:,} cap")
    n_user = len(run.portfolio.lineups)
    if max_entries is not None and n_user > max_entries:
        raise ContestError(f"{n_user} lineups are more than the contest's {max_entries} entries per user")
    if payouts.size != size:
        raise ContestError(f"the payout table is for {payouts.size:,} entries, the contest has {size:,}")
    n_field = size - n_user
    if n_field < 1:
        raise ContestError(f"a contest of {size:,} entries leaves no field for {n_user} lineups")
    unknown = sorted(set(ownership or {}) - set(p.ids))
    if unknown:
        raise ContestError(f"ownership given for driver(s) not on the slate: {', '.join(unknown)}")
    P = run.points
    racing = np.array([k not in p.excludes for k in range(p.n)]) & (p.salary > 0)
    lineups = legal_lineups(p.salary, racing, p.roster, p.cap, floor)
    step(0.25)
    # the slate's own-% column first (edited in the app, saved in the slate JSON), then what was given here
    merged = {d.driver_id: 100 * d.projected_ownership for d in run.slate.drivers if d.projected_ownership is not None}
    merged.update(ownership or {})
    given = {p.ids.index(i): float(v) for i, v in merged.items() if i in p.ids}
    target, notes = ownership_targets(P.mean(axis=0), p.salary, racing, p.roster, p.cap, floor, given, lineups)
    step(0.4)
    fld = sample_field(target, p.salary, p.roster, p.cap, floor, n_field, seed, list(p.names), lineups)
    step(0.7 if select else 1.0)
    optimizer_lineups = np.array([sorted(lu.members) for lu in run.portfolio.lineups])
    user, selection = optimizer_lineups, None
    if select:
        pool = candidate_pool(P, fld, optimizer_lineups, seed)
        user = pool[select_lineups(P, pool, fld, payouts, n_user, max_exposure, seed=seed)]
        selection = {"method": SELECT_METHOD, "candidates": int(len(pool)), "max_exposure": max_exposure}
        step(1.0)
    return ContestSetup(size, float(entry_fee), payouts, int(seed), floor, fld, user, optimizer_lineups, notes, selection)


def contest_block(run, setup: ContestSetup, block: int, blocks: int, which: str = "user", progress=None, cancel=None) -> ContestResult:
    """The contest over block ``block`` of ``blocks`` equal runs of the simulated races (one Dask
    task each for a large contest); ``which``: the entered lineups, or the optimizer's ("base")."""
    P = run.points
    lo, hi = block * len(P) // blocks, (block + 1) * len(P) // blocks
    lineups = setup.user if which == "user" else setup.optimizer_lineups
    return simulate_contest(P[lo:hi], lineups, setup.fld, setup.payouts, progress=progress, cancel=cancel)


def merge_results(parts: list[ContestResult]) -> ContestResult:
    """One result from the results of consecutive race blocks (in order)."""
    first = parts[0]
    return ContestResult(first.payouts, np.concatenate([r.user_payout for r in parts]), np.concatenate([r.user_place for r in parts]),
                         np.concatenate([r.field_paid for r in parts]), np.concatenate([r.total_paid for r in parts]),
                         first.duplicates, first.field_size)


def contest_summary(run, setup: ContestSetup, res: ContestResult, base: ContestResult | None = None) -> dict:
    """The JSON-ready contest result (see ``pitwall contest``)."""
    p = run.portfolio.problem
    P, fld, payouts, user = run.points, setup.fld, setup.payouts, setup.user
    metrics = res.lineup_metrics()
    points = P @ _onehot(user, P.shape[1])
    out = {
        "contest": {"size": setup.size, "entry_fee": setup.entry_fee, "payout_total": round(payouts.total, 2), "payouts": payouts.name,
                    "paid_places": payouts.paid_places, "salary_floor": setup.floor, "races": int(P.shape[0]), "seed": setup.seed},
        "field": {"lineups": fld.size, "unique_lineups": int(len(fld.counts)), "max_duplicates": int(fld.counts.max()),
                  "mean_profit": res.field_mean_profit(), "method": FIELD_METHOD, "ownership_model": OWNERSHIP_MODEL,
                  "ownership": [{"driver_id": p.ids[k], "name": p.names[k], "target": round(float(fld.target[k]), 2),
                                 "realized": round(float(fld.realized[k]), 2)} for k in np.argsort(-fld.target)],
                  "notes": setup.notes + fld.notes},
        "portfolio": res.portfolio(),
        "lineups": [{"drivers": [p.names[i] for i in lu], "driver_ids": [p.ids[i] for i in lu],
                     "salary": int(p.salary[lu].sum()), "mean_points": round(float(points[:, k].mean()), 2), **m}
                    for k, (lu, m) in enumerate(zip(user.tolist(), metrics))],
        "payout_table": payouts.rows(),
    }
    if setup.selection is not None:
        out["selection"] = {**setup.selection, "optimizer_portfolio": base.portfolio() if base is not None else None}
    return out


def run_contest(run, size: int, entry_fee: float, payouts: Payouts, seed: int, floor: int | None = None,
                ownership: dict[str, float] | None = None, max_entries: int | None = None, select: bool = False,
                max_exposure: float = 1.0, progress=None, cancel=None) -> dict:
    """The contest of an optimize run's lineups (the user's entries) against a field drawn from
    ownership, over the run's simulated races, in this process; JSON-ready (see ``pitwall
    contest``). ``ownership``: driver id -> percent for the drivers the analyst set. ``select``:
    the entered lineups are chosen for the contest (SELECT_METHOD, from a pool of the
    optimizer's lineups, per-race optimal lineups and field-like ones) instead of the
    optimizer's; the optimizer's portfolio is simulated too, for comparison. engine.tasks runs
    the same steps as Dask tasks (a task per block of races for large contests)."""
    step = progress or (lambda f: None)
    setup = prepare_contest(run, size, entry_fee, payouts, seed, floor, ownership, max_entries, select, max_exposure,
                            progress=lambda f: step(0.2 * f))
    base = None
    if select:
        base = contest_block(run, setup, 0, 1, "base", progress=lambda f: step(0.2 + 0.4 * f), cancel=cancel)
    res = contest_block(run, setup, 0, 1, "user", progress=lambda f: step(0.6 + 0.4 * f if select else 0.2 + 0.8 * f), cancel=cancel)
    return contest_summary(run, setup, res, base)
