"""Headless REST API: /api/v1/optimize and /api/v1/backtest on the engine's job runner.

POST answers 202 with a run id at once; the client polls status and fetches the result. Jobs
and results persist in SQLite (settings.state_dir/jobs.sqlite): after a restart completed
results are still served and jobs that were running show as failed, "interrupted by restart".
Every value in a result is computed: the lineup by the optimizer, diagnostics from the
simulated races, calibration metrics from a backtest of the same model, the hash from the
compiled constraint spec.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, Literal

import pandas as pd
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi_offline import FastAPIOffline
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import Field, HttpUrl, ValidationError, field_validator, model_validator
from starlette.datastructures import Headers

from engine import __version__
from engine.core.contracts import (
    MAX_POOL,
    Contract,
    DriverConstraintsRequest,
    OptimizationStatus,
    OptimizeRequest,
    OptimizeResponse,
    Slate,
    SlateDriver,
    describe_error_list,
    describe_errors,
)
from engine.core.series import SERIES, Series
from engine.core.settings import Settings, get_settings
from engine.jobs.pipeline import Objective, OptimizeSettings, TrackType
from engine.jobs.runner import make_runner
from engine.jobs.service import backtest_cache_key, backtest_job, optimize_job
from engine.jobs.store import FINISHED
from engine.jobs.webhooks import WebhookPolicy, WebhookRefused, deliver
from engine.model.backtest import check_backtest

MAX_DRIVERS = MAX_POOL
log = logging.getLogger("pitwall.api")


class WebhookAttempt(Contract):
    attempt: int
    at: float
    status_code: int | None = None
    error: str | None = None
    ok: bool


class WebhookStatus(Contract):
    url: str
    delivered: bool
    attempts: list[WebhookAttempt]


class JobStatus(OptimizationStatus):
    """The contract's status, plus the webhook's delivery attempts when the run has a webhook."""

    webhook: WebhookStatus | None = None


class ApiOptimizeRequest(OptimizeRequest):
    """The optimize contract plus API options: at most 60 drivers, lineups, objective, global
    exposure bounds, an optional webhook."""

    drivers: list[DriverConstraintsRequest] = Field(min_length=1, max_length=MAX_DRIVERS)
    n_lineups: int = Field(default=1, ge=1, le=150)
    objective: Objective = "mean"
    min_unique: int = Field(default=1, ge=0, le=6)
    min_exposure: float | None = Field(default=None, ge=0.0, le=1.0, description="every driver in at least this share of lineups")
    max_exposure: float | None = Field(default=None, ge=0.0, le=1.0, description="every driver in at most this share of lineups")
    optimal_pct: bool = Field(default=False, description="also compute each driver's optimal% (share of simulated races whose "
                                                          "best lineup holds the driver)")
    webhook_url: HttpUrl | None = Field(default=None, description="POSTed the final status; public addresses only (see webhook_allow)")

    @model_validator(mode="after")
    def _exposures(self) -> "ApiOptimizeRequest":
        if self.min_exposure is not None and self.max_exposure is not None and self.min_exposure > self.max_exposure:
            raise ValueError(f"min_exposure {self.min_exposure:.0%} is above max_exposure {self.max_exposure:.0%}")
        return self


class PayoutRow(Contract):
    place_from: int = Field(ge=1)
    place_to: int = Field(ge=1)
    prize: float = Field(ge=0, allow_inf_nan=False, description="prize per place")


class OwnershipRow(Contract):
    driver_id: str
    ownership: float = Field(ge=0, le=100, allow_inf_nan=False, description="projected ownership, percent")


class ApiContestRequest(ApiOptimizeRequest):
    """An optimize request plus the contest: its size, entry fee, payouts (a preset or a table),
    projected ownership for any drivers (the default model fills the rest), and whether to choose
    the lineups for the contest (``select``) instead of entering the optimizer's."""

    contest_size: int = Field(default=10_000, ge=2, le=1_000_000)
    entry_fee: float = Field(default=20.0, ge=0, le=100_000, allow_inf_nan=False)
    payouts: str = Field(default="large-gpp", pattern="^(single-entry-gpp|large-gpp|50-50|double-up)$")
    payout_table: list[PayoutRow] | None = Field(default=None, max_length=10_000, description="replaces the preset")
    max_entries: int | None = Field(default=None, ge=1)
    salary_floor: int | None = Field(default=None, ge=0)
    ownership: list[OwnershipRow] | None = Field(default=None, max_length=MAX_DRIVERS)
    select: bool = False
    select_max_exposure: float = Field(default=1.0, gt=0, le=1.0, description="with select: no driver in more than this share")
    allow_overlay: bool = Field(default=False, description="accept a payout table paying more than the entry fees collect")
    field_strength: float | Literal["auto", "none"] = Field(
        default="auto", description="auto: fitted on 5+ imported DraftKings contests of the series, else the stated assumption; none: "
                                    "no tilt; or the field's mean lineup percentile (0 to 1, exclusive)")

    @field_validator("field_strength")
    @classmethod
    def _strength(cls, v):
        if isinstance(v, float) and not 0 < v < 1:
            raise ValueError("a field strength is a mean lineup percentile between 0 and 1 (e.g. 0.85), or auto, or none")
        return v

    @model_validator(mode="after")
    def _contest(self) -> "ApiContestRequest":
        if self.contest_size <= self.n_lineups:
            raise ValueError(f"contest_size {self.contest_size:,} leaves no field for n_lineups {self.n_lineups}: a contest holds "
                             "your lineups and at least one other entry")
        if self.max_entries is not None and self.max_entries < self.n_lineups:
            raise ValueError(f"max_entries {self.max_entries} is below n_lineups {self.n_lineups}: enter at most {self.max_entries} "
                             "lineups, or raise max_entries")
        if self.salary_floor is not None and self.salary_floor > self.salary_cap:
            raise ValueError(f"salary_floor {self.salary_floor:,} is above the salary_cap {self.salary_cap:,}")
        return self


class BacktestRequest(Contract):
    series: Series = Field(default=Series.CUP, description="cup (default), nxs or truck")
    seasons: list[int] = Field(min_length=1, max_length=20, description="seasons of the history after the model's fit seasons")
    track_type: TrackType | None = None
    n_scenarios: int = Field(default=1000, ge=10, le=20_000)
    seed: int = Field(default=0, ge=0, le=2**31)
    webhook_url: HttpUrl | None = None


class ClusterInfo(Contract):
    scheduler: str | None = Field(description="address of the Dask scheduler (None until the local cluster has started)")
    local: bool = Field(description="the embedded local cluster (not PITWALL_DASK_SCHEDULER)")
    ready: bool = Field(description="connected: jobs start at once")
    workers: int | None = None
    dashboard: str | None = Field(default=None, description="the Dask dashboard, when bokeh is installed")
    error: str | None = Field(default=None, description="why the cluster cannot be used, naming its address")


class Health(Contract):
    version: str
    model_hash: str = Field(description="the Cup model in use")
    model_fit_seasons: str
    series_models: dict[str, str] = Field(default_factory=dict, description="each series' model in use: hash (fit seasons)")
    ontology_backend: str
    ontology: str
    neo4j_reachable: bool | None
    neo4j_detail: str | None = None
    jobs_interrupted_at_start: int
    cluster: ClusterInfo | None = Field(default=None, description="the Dask cluster the jobs run on")


class ErrorBody(Contract):
    detail: Any


class BodyLimit:
    """413 for request bodies over the configured size (Content-Length or streamed). A pure ASGI
    middleware: the body is read once and handed on, no extra task per request."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def _too_big(self, size: str) -> JSONResponse:
        return JSONResponse({"detail": f"request body of {size} bytes is over the {self.max_bytes} byte limit"}, 413)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = Headers(scope=scope).get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            return await self._too_big(length)(scope, receive, send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._too_big(f"more than {self.max_bytes}")(scope, receive, send)
            if not message.get("more_body"):
                break
        body, handed = b"".join(chunks), False

        async def replay():
            nonlocal handed
            if not handed:
                handed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one message per problem naming the field (and the driver); malformed JSON is
    located by line and column."""
    errors = list(exc.errors())
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        body = (await request.body()).decode("utf-8", errors="replace")
        pos = next((p for p in bad_json[0]["loc"] if isinstance(p, int)), 0)
        line = body.count("\n", 0, pos) + 1
        column = pos - (body.rfind("\n", 0, pos) + 1) + 1
        why = (bad_json[0].get("ctx") or {}).get("error", "JSON decode error")
        return JSONResponse({"detail": [f"malformed JSON at line {line}, column {column}: {why}"]}, 422)
    body = exc.body if isinstance(exc.body, dict) else {}
    messages = describe_error_list(errors, body)
    return JSONResponse({"detail": messages, "errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors]}, 422)


class RateLimit:
    """Per-client moving-window rate limit (the limits library); 429 with Retry-After (pure ASGI)."""

    def __init__(self, app, per_minute: int):
        self.app = app
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = scope["client"][0] if scope.get("client") else "unknown"
        if not self.limiter.hit(self.item, client):
            reset, _ = self.limiter.get_window_stats(self.item, client)
            retry = max(1, int(reset - time.time()) + 1)
            response = JSONResponse({"detail": f"rate limit of {self.item.amount} requests per minute exceeded; retry in {retry} s"},
                                    429, headers={"Retry-After": str(retry)})
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


class Service:
    """What the routes need: runner, tracks, ontology, model hash (loaded once at start)."""

    def __init__(self, settings: Settings):
        from engine.data.history import History, load_tracks
        from engine.dfs.ontology import open_with_fallback
        from engine.model.params import load_params

        self.settings = settings
        self.webhooks = WebhookPolicy(tuple(settings.webhook_allow))
        self.runner = make_runner(settings, on_finish=self._notify)
        self.tracks = {s: load_tracks(series=s).set_index("track_id") for s in SERIES}
        self.histories = {s: History.load(state_dir=settings.state_dir, series=s) for s in SERIES}
        self.repository, self.ontology_notice = open_with_fallback(settings)
        for s in SERIES:
            load_params(series=s)
        for run_id in self.runner.interrupted_ids:  # they end here: their webhooks hear it too
            self._notify(run_id, self.runner.status(run_id) or {})

    def check_webhook(self, url) -> JSONResponse | None:
        """422 naming the reason when a webhook URL may not be called, else None."""
        if url is None:
            return None
        try:
            self.webhooks.check(str(url))
        except WebhookRefused as exc:
            return JSONResponse({"detail": [str(exc)]}, 422)
        return None

    def _notify(self, run_id: str, status: dict) -> None:
        row = self.runner.record(run_id)
        if row and row.get("webhook"):
            payload = {k: status.get(k) for k in ("run_id", "status", "progress", "error")}
            threading.Thread(target=deliver, args=(row["webhook"], payload, self.webhooks,
                                                   lambda entry: self.runner.store.log_webhook(run_id, entry)),
                             name=f"pitwall-webhook-{run_id[:8]}", daemon=True).start()

    def slate_of(self, req: ApiOptimizeRequest) -> Slate:
        cfg = req.scenario_config
        track = self.tracks[req.series.value].loc[cfg.track_id]
        laps = cfg.race_length or (None if pd.isna(track["latest_race_laps"]) else int(track["latest_race_laps"]))
        if laps is None:
            raise ValueError(f"scenario_config.race_length: track {cfg.track_id!r} has no race yet, so its race length is "
                             "unknown: give it")
        return Slate(slate_id=req.slate_id, series=req.series, site=req.site, track_id=cfg.track_id, track_type=str(track["track_type"]),
                     race_length=laps, salary_cap=req.salary_cap,
                     drivers=[SlateDriver.model_validate(d.model_dump()) for d in req.drivers])


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        service.runner.cancel_all()  # running jobs stop; the pool stays usable if the app starts again
        if service.runner.cluster is not None:
            service.runner.cluster.close()  # the local cluster stops by itself once no process is connected

    # FastAPIOffline serves /docs (Swagger UI) and /redoc from files shipped in the package: no CDN
    app = FastAPIOffline(title="Pitwall API", version=__version__, lifespan=lifespan,
                         description="NASCAR DFS scenario lab: simulated races, lineups and calibrated metrics.")
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimit, per_minute=settings.rate_limit_per_minute)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"])
    app.state.service = service
    router = APIRouter(prefix="/api/v1")
    not_found = {404: {"model": ErrorBody, "description": "unknown run id (or a run of the other kind)"}}

    def status_or_404(run_id: str, kind: str) -> JobStatus | JSONResponse:
        st = service.runner.status(run_id, kind)
        if st is None:
            return JSONResponse({"detail": f"no {kind} run with id {run_id!r}"}, 404)
        return JobStatus.model_validate(st)

    def cancel(run_id: str, kind: str):
        st = status_or_404(run_id, kind)
        if isinstance(st, JSONResponse):
            return st
        if st.status in FINISHED:
            return JSONResponse({"detail": {"run_id": run_id, "status": st.status,
                                            "error": f"the run is already {st.status}: there is nothing to cancel"}}, 409)
        service.runner.cancel(run_id)
        return status_or_404(run_id, kind)

    def result(run_id: str, kind: str, pick):
        row = service.runner.record(run_id, kind)
        if row is None:
            return JSONResponse({"detail": f"no {kind} run with id {run_id!r}"}, 404)
        if row["status"] == "completed":
            return pick(row["result"])
        if row["status"] == "failed":
            return JSONResponse({"detail": {"run_id": run_id, "status": "failed", "error": row["error"]}}, 422)
        return JSONResponse({"detail": {"run_id": run_id, "status": row["status"], "progress": row["progress"],
                                        "error": row["error"]}}, 409)

    status_doc = dict(response_model=JobStatus, response_model_exclude_unset=True)
    cancel_doc = {**not_found, 409: {"model": ErrorBody, "description": "the run has already finished"}}

    def client_of(request: Request) -> str:
        """Who sent a request (the connection's address; X-Forwarded-For only from trusted proxies)."""
        return "client:" + (request.client.host if request.client else "unknown")

    def check_run_request(req: ApiOptimizeRequest, client: str) -> tuple[Slate, OptimizeSettings] | JSONResponse:
        """The slate and settings of an optimize or contest request, or the 422 (or webhook
        refusal, or 429 for a client with too many runs in flight) naming what is wrong: a few
        milliseconds, fine on the event loop."""
        tracks = service.tracks[req.series.value]
        if req.scenario_config.track_id not in tracks.index:
            known = ", ".join(sorted(tracks.index))
            return JSONResponse({"detail": [f"scenario_config.track_id: unknown track {req.scenario_config.track_id!r} for the "
                                            f"{req.series.value} series; known: {known}"]}, 422)
        refused = service.check_webhook(req.webhook_url)
        if refused:
            return refused
        cars = max(len(req.drivers), req.scenario_config.field_size or 0, 40 if req.scenario_config.field_size is None else 0)
        cells = req.scenario_config.n_scenarios * cars
        limit = service.settings.max_simulated_cells
        if cells > limit:
            return JSONResponse({"detail": [
                f"scenario_config.n_scenarios: {req.scenario_config.n_scenarios:,} simulated races of {cars} cars are {cells:,} "
                f"driver results, above this server's limit of {limit:,} per run (setting PITWALL_MAX_SIMULATED_CELLS): "
                f"simulate at most {limit // cars:,} races"]}, 422)
        active = service.runner.store.count_active(client)
        if active >= service.settings.max_jobs_per_client:
            return JSONResponse({"detail": f"{active} of your runs are pending or running, the most one client may have at once "
                                           f"(setting PITWALL_MAX_JOBS_PER_CLIENT): wait for one to finish or cancel one"}, 429)
        seed = req.random_seed if req.random_seed is not None else int.from_bytes(os.urandom(4), "little")
        try:
            return service.slate_of(req), OptimizeSettings(
                site=req.site, n_lineups=req.n_lineups, n_scenarios=req.scenario_config.n_scenarios, objective=req.objective, seed=seed,
                min_unique=req.min_unique, salary_cap=req.salary_cap, min_exposure=req.min_exposure, max_exposure=req.max_exposure,
                optimal_pct=req.optimal_pct)
        except ValidationError as exc:
            return JSONResponse({"detail": describe_errors(exc, {})}, 422)
        except ValueError as exc:
            return JSONResponse({"detail": [str(exc)]}, 422)

    def job_routes(kind: str) -> None:
        """GET status (answered on the event loop: one indexed read of the WAL store), GET result
        and DELETE (cancel) of the runs of ``kind``."""
        async def status(run_id: str):
            return status_or_404(run_id, kind)

        def result_of(run_id: str):
            return result(run_id, kind, lambda res: res)

        def cancel_run(run_id: str):
            return cancel(run_id, kind)

        router.add_api_route(f"/{kind}/{{run_id}}/status", status, methods=["GET"], name=f"{kind}_status", **status_doc,
                             responses=not_found)
        router.add_api_route(f"/{kind}/{{run_id}}/result", result_of, methods=["GET"], name=f"{kind}_result",
                             responses={**not_found, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}})
        router.add_api_route(f"/{kind}/{{run_id}}", cancel_run, methods=["DELETE"], name=f"{kind}_cancel", status_code=202,
                             **status_doc, responses=cancel_doc)

    @router.post("/optimize", status_code=202, **status_doc,
                 responses={422: {"model": ErrorBody, "description": "invalid request, each problem named"}})
    async def post_optimize(req: ApiOptimizeRequest, request: Request):
        # on the event loop: a few milliseconds of checks and one insert (no simulation here); a
        # thread-pool handler would wait for two pool hops behind the status polls under load
        client = client_of(request)
        checked = check_run_request(req, client)
        if isinstance(checked, JSONResponse):
            return checked
        slate, opts = checked
        run_id = str(uuid.uuid4())
        plan = optimize_job(slate, opts, service.settings, req.scenario_config.calibration_enabled, config=req.scenario_config,
                            response_id=run_id)
        service.runner.submit("optimize", plan, run_id=run_id, request=req.model_dump(mode="json"), owner=client,
                              webhook=str(req.webhook_url) if req.webhook_url else None)
        return JobStatus(run_id=run_id, status="pending", progress=0.0, error=None)

    @router.get("/optimize/{run_id}/status", **status_doc, responses=not_found)
    async def optimize_status(run_id: str):  # one indexed read of the WAL store: answered on the event loop
        return status_or_404(run_id, "optimize")

    @router.get("/optimize/{run_id}/result", response_model=OptimizeResponse, responses={
        **not_found, 409: {"model": ErrorBody, "description": "not completed yet (or cancelled)"},
        422: {"model": ErrorBody, "description": "the run failed: the reason"}})
    def optimize_result(run_id: str):
        return result(run_id, "optimize", lambda res: res["response"])

    @router.get("/optimize/{run_id}/result.csv", response_class=PlainTextResponse, responses={
        200: {"content": {"text/csv": {}}, "description": "the site's upload file of the portfolio's lineups"},
        **not_found, 409: {"model": ErrorBody, "description": "not completed yet (or cancelled)"},
        422: {"model": ErrorBody, "description": "the run failed, or its drivers have no site player ids: the reason"}})
    def optimize_result_csv(run_id: str):
        def pick(res):
            resp = res["response"]
            if not resp.get("upload_csv"):
                why = resp.get("upload_csv_unavailable") or "the run has no upload file"
                return JSONResponse({"detail": {"run_id": run_id, "error": why}}, 422)
            site = (service.runner.record(run_id, "optimize") or {}).get("request", {}).get("site", "dk")
            return PlainTextResponse(resp["upload_csv"], media_type="text/csv",
                                     headers={"Content-Disposition": f'attachment; filename="pitwall-{site}-{run_id[:8]}.csv"'})

        return result(run_id, "optimize", pick)

    @router.delete("/optimize/{run_id}", status_code=202, **status_doc, responses=cancel_doc)
    def optimize_cancel(run_id: str):
        return cancel(run_id, "optimize")

    @router.post("/contest", status_code=202, **status_doc,
                 responses={422: {"model": ErrorBody, "description": "invalid request, each problem named"}})
    def post_contest(req: ApiContestRequest, request: Request):
        from engine.dfs.contest.payouts import (
            ContestError,
            payouts_from_rows,
            preset_payouts,
        )
        from engine.jobs.tasks import contest_plan

        client = client_of(request)
        work, limit = req.contest_size * req.scenario_config.n_scenarios, service.settings.max_contest_work
        if work > limit:
            return JSONResponse({"detail": [
                f"contest_size: {req.contest_size:,} entries over {req.scenario_config.n_scenarios:,} simulated races are {work:,} "
                f"entry-races, above this server's limit of {limit:,} per contest (setting PITWALL_MAX_CONTEST_WORK): fewer "
                f"entries or fewer races (at most {limit // req.contest_size:,} races for {req.contest_size:,} entries)"]}, 422)
        checked = check_run_request(req, client)
        if isinstance(checked, JSONResponse):
            return checked
        slate, opts = checked
        try:
            if req.payout_table:
                table = payouts_from_rows([(f"payout_table[{k}]", r.place_from, r.place_to, r.prize) for k, r in enumerate(req.payout_table)],
                                          req.contest_size, req.entry_fee, "payout_table")
            else:
                table = preset_payouts(req.payouts, req.contest_size, req.entry_fee)
            overlay = table.overlay()
            if overlay and not req.allow_overlay:
                raise ContestError(f"payout_table: {overlay}; set allow_overlay: true if the contest really pays that")
            ids = {d.driver_id for d in slate.drivers}
            own: dict[str, float] = {}
            for k, row in enumerate(req.ownership or []):
                if row.driver_id not in ids:
                    raise ContestError(f"ownership[{k}]: driver {row.driver_id!r} is not on the slate")
                if row.driver_id in own:
                    raise ContestError(f"ownership[{k}]: driver {row.driver_id!r} appears twice")
                own[row.driver_id] = row.ownership
        except ValueError as exc:  # ContestError is a ValueError
            return JSONResponse({"detail": [str(exc)]}, 422)
        from engine.model.params import load_params

        from engine.dfs.contest.field import with_strength
        from engine.dfs.contest.review import field_model_in_use

        model = with_strength(field_model_in_use(service.settings.state_dir, slate.series.value)[0], str(req.field_strength))
        contest = {"size": req.contest_size, "entry_fee": req.entry_fee, "payouts": table, "seed": opts.seed, "floor": req.salary_floor,
                   "ownership": own or None, "max_entries": req.max_entries, "select": req.select,
                   "max_exposure": req.select_max_exposure, "field_model": model}
        plan = contest_plan(slate, opts, service.settings, contest, config=req.scenario_config, model=load_params(series=slate.series.value))
        run_id = service.runner.submit("contest", plan, request=req.model_dump(mode="json"), owner=client,
                                       webhook=str(req.webhook_url) if req.webhook_url else None)
        return status_or_404(run_id, "contest")

    job_routes("contest")

    @router.post("/backtest", status_code=202, **status_doc,
                 responses={422: {"model": ErrorBody, "description": "invalid request"}})
    def post_backtest(req: BacktestRequest):
        refused = service.check_webhook(req.webhook_url)
        if refused:
            return refused
        history = service.histories[req.series.value]
        try:
            check_backtest(history, tuple(sorted(set(req.seasons))), req.track_type)
        except ValueError as exc:
            return JSONResponse({"detail": [f"seasons: {exc}"]}, 422)
        key = backtest_cache_key(tuple(req.seasons), req.track_type, req.n_scenarios, req.seed, history)
        plan = backtest_job(tuple(req.seasons), req.track_type, req.n_scenarios, req.seed, service.settings.state_dir, req.series.value)
        run_id = service.runner.submit("backtest", plan, cache_key=key, request=req.model_dump(mode="json"),
                                       webhook=str(req.webhook_url) if req.webhook_url else None)
        return status_or_404(run_id, "backtest")

    job_routes("backtest")

    @router.get("/health", response_model=Health)
    def health():
        reachable, detail = None, service.ontology_notice
        if service.settings.ontology_backend == "neo4j":
            from engine.dfs.ontology import OntologyUnavailable
            from engine.dfs.ontology.neo4j_backend import Neo4jOntology

            probe = Neo4jOntology(service.settings.neo4j_uri, service.settings.neo4j_user, service.settings.neo4j_password, 2.0)
            try:
                detail = f"Neo4j {probe.ping()} at {service.settings.neo4j_uri}"
                reachable = True
            except OntologyUnavailable as exc:
                reachable, detail = False, str(exc)
            finally:
                probe.close()
        from engine.model.params import load_params

        model = load_params()
        models = {s: load_params(series=s) for s in SERIES}
        return Health(version=__version__, model_hash=model.hash, model_fit_seasons=model.fit_span,
                      series_models={s: f"{m.hash} (fitted on {m.fit_span})" for s, m in models.items()}, ontology_backend=service.repository.backend, ontology=service.repository.describe(),
                      neo4j_reachable=reachable, neo4j_detail=detail, jobs_interrupted_at_start=service.runner.interrupted,
                      cluster=ClusterInfo(**service.runner.cluster.info()) if service.runner.cluster is not None else None)

    app.include_router(router)

    return app
