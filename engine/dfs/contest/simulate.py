"""A contest over the simulated races: every entry scored in every race, places with DraftKings'
tie rule, prizes per lineup; and lineups chosen for a contest by greedy marginal gain.

Scores are exact: fantasy points are whole cents, so scores are compared as integers. Ranks
come from a per-race count of entries by score (no sort): entries with a higher score and
entries with the same score give each lineup's places."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.dfs.contest.field import Field
from engine.dfs.contest.payouts import ContestError, Payouts


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


def lineup_matrix(lineups: np.ndarray, d: int) -> np.ndarray:
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
    from engine.model.scenarios import Cancelled

    cents = _scores_in_steps(points)
    s_all, d = cents.shape
    user = np.asarray(user, np.int64)
    n_user, n_field = len(user), fld.size
    entries = n_user + n_field
    if entries > payouts.size:
        raise ContestError(f"{n_user} lineups plus a field of {n_field:,} make {entries:,} entries, more than the contest's {payouts.size:,}")
    cum = np.concatenate([[0.0], np.cumsum(payouts.prizes[:entries])])  # cum[k] = prizes of places 1..k
    mu = lineup_matrix(user, d)
    mf = lineup_matrix(fld.lineups, d)
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
    onehot = lineup_matrix(fld.pool, points.shape[1])
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
    mf, mc = lineup_matrix(fld.lineups, d), lineup_matrix(candidates, d)
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
