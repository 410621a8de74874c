"""Contest payout tables: presets shaped like DraftKings' contests, or a CSV of
``place_from,place_to,prize``; ties follow DraftKings' rule (tied entries split the prizes of
the places they span equally)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np


class ContestError(ValueError):
    """Bad contest input: the message names the row, driver or field."""


def money(x: float, cents: bool = True) -> str:
    """Dollars as a player writes them: -$3.15, $1,234.50 (``cents=False``: -$3, $1,235)."""
    v = float(x)
    text = f"{abs(v):,.2f}" if cents else f"{abs(v):,.0f}"
    return ("-" if v < 0 and text.strip("0.,") else "") + "$" + text


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
