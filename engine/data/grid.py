"""The starting grid and the field of a slate, as slates are built and compiled.

* ``field_of``: how many cars start (a known grid, the slate's field size, or the race's rule);
* ``estimate_starts``: missing grid positions filled with the free slots in order of skill;
* ``check_laps_led_bounds``: laps-led bounds that cannot hold together, refused by name.

Both the constraint compiler and the simulator read the grid from here, so the compiler never
calls into the simulator."""

from __future__ import annotations

from engine.core.contracts import Slate


class SimulationError(ValueError):
    """Inputs the simulator refuses before simulating; the message names drivers and fields."""


def field_of(slate: Slate, explicit: int | None = None) -> int:
    """Cars that start: an explicit field size (the API's scenario_config.field_size: fewer than
    the drivers means non-qualifiers, more means anonymous field cars), else the drivers who
    can race: all of them when each has a grid position, else at most the slate's field size,
    or when the slate has none the race's rule (data/field_sizes.csv: 40 cars, 41 at the
    Daytona 500)."""
    if explicit:
        return int(explicit)
    racing = [d for d in slate.drivers if not d.out]
    n_racing = len(racing)
    if all(d.start_position is not None for d in racing):  # a known grid says who starts; starters missing from
        return max(n_racing, slate.field_size or 0, max((d.start_position for d in racing), default=0))  # the pool: field cars
    limit = slate.field_size
    if limit is None:
        from engine.data.history import race_field_size

        limit, _ = race_field_size(slate.season, slate.track_id, slate.race, slate.race_name, series=slate.series.value)
    return min(n_racing, int(limit))


def estimate_starts(starts: list[int | None], skill: list[float], ids: list[str], field_size: int) -> tuple[list[int], list[int]]:
    """Fill missing grid positions with the free slots in order of skill (best first, ties
    by id); returns the full grid and the indices that were estimated."""
    given = {s for s in starts if s is not None}
    free = sorted(set(range(1, field_size + 1)) - given)
    missing = sorted((i for i, s in enumerate(starts) if s is None), key=lambda i: (-float(skill[i]), ids[i]))
    grid = list(starts)
    for i, pos in zip(missing, free):
        grid[i] = pos
    return [int(g) for g in grid], sorted(missing)


def check_laps_led_bounds(names: list[str], mins: list[int], maxs: list[int], race_length: int) -> None:
    """Refuse laps-led bounds that cannot hold together, naming the drivers (maxs: -1 = none)."""
    too_high = [(n, m) for n, m in zip(names, mins) if m > race_length]
    if too_high:
        raise SimulationError(
            f"min_laps_led above the race length ({race_length} laps): " + ", ".join(f"{n} ({m})" for n, m in too_high)
        )
    if sum(mins) > race_length:
        listing = " + ".join(f"{n} {m}" for n, m in zip(names, mins) if m > 0)
        raise SimulationError(f"minimum laps led add up to {sum(mins)} ({listing}), more than the {race_length} race laps")
    bad = [n for n, lo, hi in zip(names, mins, maxs) if hi >= 0 and lo > hi]
    if bad:
        raise SimulationError("min_laps_led above max_laps_led: " + ", ".join(bad))
