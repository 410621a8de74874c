"""The fitted parameters of the race simulator (data/model_params.json, or the state directory's
after `pitwall fit`), by track type; engine.model.fit says how each is estimated."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from engine.core.contracts import PitStrategy
from engine.core.paths import DATA_DIR
from engine.core.series import (
    SHORT_NAMES,
    check_series,
    series_data_dir,
    series_state_dir,
)
from engine.data.grid import SimulationError

PARAMS_FILE = DATA_DIR / "model_params.json"  # the Cup's shipped model


def params_file(series: str = "cup") -> Path:
    """A series' shipped model: data/model_params.json (Cup), data/series/<code>/model_params.json."""
    return series_data_dir(series) / "model_params.json"
PIT_CODES = {PitStrategy.STANDARD: 0, PitStrategy.AGGRESSIVE: 1, PitStrategy.CONSERVATIVE: 2}


@dataclass(frozen=True)
class TypeParams:
    """Fitted parameters of one track type (see engine.model.fit for how each is estimated)."""

    b_skill: float
    b_start: float
    own_dnf_ratio: float
    own_accident_share: float
    own_dnf_lap_q: tuple[float, ...]
    incident_count_p: tuple[float, ...]
    incident_size_p: tuple[float, ...]  # sizes 2, 3, ...
    incident_lap_q: tuple[float, ...]
    green_frac_q: tuple[float, ...]
    laps_delta_values: tuple[int, ...]
    laps_delta_p: tuple[float, ...]
    lead_lambda: float
    lead_p: float
    lead_kappa: float
    fast_phi: float
    fast_psi: float
    fast_sigma: float
    lead_lap_share: tuple[float, ...]  # per finishing decile, running cars
    laps_down_mean: tuple[float, ...]  # per finishing decile, given lapped
    stage_cautions: int
    b_prac: float = 0.0  # practice rank (centered percentile, engine.data.features)
    b_qual: float = 0.0  # qualifying speed rank
    noise: str = "gumbel"  # the order's noise (engine.model.pace): "gumbel" or "normal"
    sigma_skill: float = 0.0  # normal noise scale exp(sigma_skill * logit(skill))
    trouble_rate: float = 0.0  # share of running cars in trouble (engine.model.pace.fit_trouble)
    trouble_drop: float = 0.0  # the pace a car in trouble loses, in noise units
    lead_rho: float = 0.0  # share of the leader stints that go to the race's dominator
    q_skill: float | None = None  # the qualifying model (engine.model.pace.fit_grid); None: an unknown grid is estimated once
    q_prac: float = 0.0


@dataclass(frozen=True)
class ModelParams:
    types: dict[str, TypeParams]
    league_dnf_rate: float
    newcomer_skill: float
    aggression_spread: float
    pit: dict[str, tuple[float, float]]  # strategy -> (utility shift, noise scale)
    fit_seasons: tuple[int, ...]
    raw: dict = field(repr=False, default_factory=dict)

    @cached_property
    def hash(self) -> str:
        """Short sha256 of the parameters (canonical JSON): which model produced a result."""
        import hashlib

        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def series(self) -> str:
        """The series the model was fitted on (models before series existed are the Cup's)."""
        return str(self.raw.get("series", "cup"))

    @property
    def method_hash(self) -> str:
        """Which fitting method (settings) produced the model; models fitted the same way share it."""
        return str(self.raw.get("method_hash", "legacy"))

    @property
    def fit_span(self) -> str:
        return f"{self.fit_seasons[0]}-{self.fit_seasons[-1]}" if self.fit_seasons else "?"

    def for_type(self, track_type: str) -> TypeParams:
        if track_type not in self.types:
            raise SimulationError(f"no fitted parameters for track type {track_type!r}; known: {', '.join(sorted(self.types))}")
        return self.types[track_type]


def params_from_dict(raw: dict) -> ModelParams:
    types = {}
    for name, t in raw["types"].items():
        types[name] = TypeParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in t["params"].items()})
    a = raw["assumptions"]
    return ModelParams(
        types=types,
        league_dnf_rate=float(raw["league_dnf_rate"]),
        newcomer_skill=float(raw["newcomer_skill"]),
        aggression_spread=float(a["aggression_spread"]["value"]),
        pit={k: (float(v["utility_shift"]), float(v["noise_scale"])) for k, v in a["pit_strategy"].items() if isinstance(v, dict)},
        fit_seasons=tuple(raw["fit_seasons"]),
        raw=raw,
    )


@lru_cache(maxsize=4)
def _load_params(path: str, mtime: float) -> ModelParams:
    return params_from_dict(json.loads(Path(path).read_text()))


def active_params_file(series: str = "cup") -> Path:
    """A series' model in use: the one `pitwall fit --series` wrote to the state directory, else the shipped one."""
    from engine.core.settings import get_settings

    mine = series_state_dir(get_settings().state_dir, series) / "model_params.json"
    return mine if mine.exists() else params_file(series)


def load_params(path: Path | str | None = None, series: str | None = None) -> ModelParams:
    """The fitted model: ``path``, else the active one of ``series`` (default the Cup). A model
    fitted on another series than the one asked for is refused, naming both."""
    wanted = check_series(series)
    path = Path(path) if path is not None else active_params_file(wanted)
    if not path.exists():
        raise SimulationError(f"{path} is missing: run `pitwall fit --series {wanted}`")
    model = _load_params(str(path), path.stat().st_mtime)
    if series is not None and model.series != wanted:
        raise SimulationError(f"{path} is a model of the {SHORT_NAMES[model.series]} series, not the {SHORT_NAMES[wanted]}: "
                              f"fit one with `pitwall fit --series {wanted}`")
    return model
