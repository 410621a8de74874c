"""The /api/v1 contract on the real engine: TestClient for every status; a real uvicorn process
for persistence across a restart and for the webhook."""

import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from helpers import free_port, start_api

from engine.core.settings import Settings
from engine.data.slates import shipped_salary_slate
from engine.interfaces.api import create_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = {
    "slate_id": "test-slate",
    "drivers": [{"driver_id": "d1", "skill": 0.75, "aggression": 0.6, "shadow_risk": 0.3, "min_laps_led": 0, "max_laps_led": 100}],
    "scenario_config": {"track_id": "daytona", "n_scenarios": 100},
    "salary_cap": 50000,
    "random_seed": 42,
}


@pytest.fixture(scope="module")
def bristol_request(history):
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)
    keep = {"driver_id", "skill", "aggression", "shadow_risk", "name", "salary", "team", "manufacturer"}
    drivers = [{k: v for k, v in d.model_dump(mode="json").items() if k in keep} for d in slate.drivers]
    return {"slate_id": "bristol-2026", "drivers": drivers,
            "scenario_config": {"track_id": "bristol", "n_scenarios": 2000, "race_length": 500, "calibration_enabled": True},
            "salary_cap": 50000, "random_seed": 7}


@pytest.fixture
def client(tmp_path):
    app = create_app(Settings(state_dir=tmp_path, rate_limit_per_minute=10_000))
    with TestClient(app) as c:
        yield c


def wait(c, run_id, kind="optimize", timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        st = c.get(f"/api/v1/{kind}/{run_id}/status").json()
        if st["status"] in ("completed", "failed", "cancelled"):
            return st
        time.sleep(0.1)
    raise AssertionError(f"{run_id} did not finish")


def test_documented_example_is_accepted_then_fails_with_the_reason(client):
    r = client.post("/api/v1/optimize", json=EXAMPLE)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "pending" and body["progress"] == 0.0 and body["error"] is None and len(body["run_id"]) == 36
    st = wait(client, body["run_id"])
    assert st["status"] == "failed" and "1 driver(s) cannot fill a 6-driver lineup" in st["error"]
    res = client.get(f"/api/v1/optimize/{body['run_id']}/result")
    assert res.status_code == 422 and "cannot fill" in res.json()["detail"]["error"]


def test_a_real_optimization_end_to_end(client, bristol_request):
    r = client.post("/api/v1/optimize", json=bristol_request)
    run_id = r.json()["run_id"]
    assert client.get(f"/api/v1/optimize/{run_id}/result").status_code in (409, 200)
    assert wait(client, run_id)["status"] == "completed"
    res = client.get(f"/api/v1/optimize/{run_id}/result")
    assert res.status_code == 200
    body = res.json()
    assert body["status"] == "completed" and body["run_id"] == run_id and len(body["constraint_spec_hash"]) == 64
    lineup = body["lineup"]
    assert len(lineup) == 6 and [x["position"] for x in lineup] == [1, 2, 3, 4, 5, 6]
    assert body["total_salary"] == sum(x["salary"] for x in lineup) <= 50000
    assert body["total_projected_points"] == pytest.approx(sum(x["projected_points"] for x in lineup), abs=0.05)
    diag = body["scenario_diagnostics"]
    assert diag["n_scenarios_generated"] == 2000 and diag["n_valid"] == 2000 and diag["rejection_rate"] == 0.0
    cal = diag["calibration_metrics"]
    shipped = json.loads((ROOT / "docs" / "calibration.json").read_text())["by_track_type"]["short"]["model"]
    assert cal["crps"] == shipped["crps"] and cal["coverage_80"] == shipped["pit_coverage"]["80"]
    # the same request again computes the same answer (seeded)
    again = client.post("/api/v1/optimize", json=bristol_request).json()["run_id"]
    wait(client, again)
    other = client.get(f"/api/v1/optimize/{again}/result").json()
    assert other["lineup"] == lineup and other["constraint_spec_hash"] == body["constraint_spec_hash"]


def test_the_result_holds_the_whole_portfolio(client, bristol_request, history):
    """n_lineups, the exposure bounds and optimal% are visible through the API: every lineup,
    the exposures, optimal% when asked, and the upload file (as a field and as result.csv)."""
    req = json.loads(json.dumps(bristol_request))
    slate = shipped_salary_slate("dk_2026-04-12_race08_bristol.csv", history)
    ids = {d.driver_id: d.site_player_id for d in slate.drivers}
    for d in req["drivers"]:
        d["site_player_id"] = ids[d["driver_id"]]
    req.update(n_lineups=5, max_exposure=0.6, min_unique=2, optimal_pct=True)
    req["scenario_config"].update(n_scenarios=1000, calibration_enabled=False)
    run_id = client.post("/api/v1/optimize", json=req).json()["run_id"]
    assert wait(client, run_id)["status"] == "completed"
    body = client.get(f"/api/v1/optimize/{run_id}/result").json()
    lineups = body["lineups"]
    assert len(lineups) == 5 and [lu["lineup"] for lu in lineups] == [1, 2, 3, 4, 5]
    means = [lu["mean"] for lu in lineups]
    assert means == sorted(means, reverse=True) and body["total_projected_points"] == means[0]
    assert [d["driver_id"] for d in body["lineup"]] == [d["driver_id"] for d in lineups[0]["drivers"]]
    for lu in lineups:
        assert len(lu["drivers"]) == 6 and lu["salary"] == sum(d["salary"] for d in lu["drivers"]) <= 50000
        assert lu["p10"] <= lu["p50"] <= lu["p90"]
    counts = {}
    for lu in lineups:
        for d in lu["drivers"]:
            counts[d["driver_id"]] = counts.get(d["driver_id"], 0) + 1
    assert {e["driver_id"]: e["exposure"] for e in body["exposures"]} == {k: v / 5 for k, v in counts.items()}
    assert max(e["exposure"] for e in body["exposures"]) <= 0.6
    assert body["optimal_pct"] and sum(o["optimal_pct"] for o in body["optimal_pct"]) == pytest.approx(6.0, abs=1e-3)
    csv = client.get(f"/api/v1/optimize/{run_id}/result.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text == body["upload_csv"] and csv.text.splitlines()[0] == "D,D,D,D,D,D" and len(csv.text.splitlines()) == 6
    # without site player ids there is no upload file, and the result says why
    bare = {**req, "optimal_pct": False}
    bare["drivers"] = [{k: v for k, v in d.items() if k != "site_player_id"} for d in req["drivers"]]
    run_id = client.post("/api/v1/optimize", json=bare).json()["run_id"]
    assert wait(client, run_id)["status"] == "completed"
    body = client.get(f"/api/v1/optimize/{run_id}/result").json()
    assert body["optimal_pct"] is None and body["upload_csv"] is None and "no salary-site player id" in body["upload_csv_unavailable"]
    r = client.get(f"/api/v1/optimize/{run_id}/result.csv")
    assert r.status_code == 422 and "site_player_id" in r.json()["detail"]["error"]


def test_calibration_disabled_gives_null(client, bristol_request):
    req = json.loads(json.dumps(bristol_request))
    req["scenario_config"]["calibration_enabled"] = False
    req["scenario_config"]["n_scenarios"] = 500
    run_id = client.post("/api/v1/optimize", json=req).json()["run_id"]
    wait(client, run_id)
    assert client.get(f"/api/v1/optimize/{run_id}/result").json()["scenario_diagnostics"]["calibration_metrics"] is None


def test_errors_name_the_field(client, bristol_request):
    bad = json.loads(json.dumps(EXAMPLE))
    bad["drivers"][0]["shadow_risk"] = 1.5
    bad["scenario_config"]["n_scenarios"] = 105
    r = client.post("/api/v1/optimize", json=bad)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any("driver 'd1' (drivers[0]): shadow_risk" in d for d in detail)
    assert any(d.startswith("scenario_config.n_scenarios") and "divisible by 10" in d for d in detail)
    dup = json.loads(json.dumps(EXAMPLE))
    dup["drivers"] = dup["drivers"] * 2
    assert "appears twice" in " ".join(client.post("/api/v1/optimize", json=dup).json()["detail"])
    many = json.loads(json.dumps(bristol_request))
    many["drivers"] = [{**many["drivers"][0], "driver_id": f"x{i}"} for i in range(61)]
    r = client.post("/api/v1/optimize", json=many)
    assert r.status_code == 422 and any(d.startswith("drivers:") for d in r.json()["detail"])
    huge = json.loads(json.dumps(EXAMPLE))
    huge["scenario_config"]["n_scenarios"] = 1_000_010
    assert client.post("/api/v1/optimize", json=huge).status_code == 422
    track = json.loads(json.dumps(EXAMPLE))
    track["scenario_config"]["track_id"] = "mars"
    r = client.post("/api/v1/optimize", json=track)
    assert r.status_code == 422 and "unknown track 'mars'" in r.json()["detail"][0]
    assert client.post("/api/v1/optimize", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


def test_unknown_ids_and_cancel(client, bristol_request):
    for path in ("/api/v1/optimize/nope/status", "/api/v1/optimize/nope/result", "/api/v1/backtest/nope/status"):
        r = client.get(path)
        assert r.status_code == 404 and "run with id 'nope'" in r.json()["detail"]
    assert client.delete("/api/v1/optimize/nope").status_code == 404
    big = json.loads(json.dumps(bristol_request))
    big["scenario_config"]["n_scenarios"] = 400_000
    run_id = client.post("/api/v1/optimize", json=big).json()["run_id"]
    r = client.delete(f"/api/v1/optimize/{run_id}")
    assert r.status_code == 202
    st = wait(client, run_id)
    assert st["status"] == "cancelled"
    res = client.get(f"/api/v1/optimize/{run_id}/result")
    assert res.status_code == 409 and res.json()["detail"]["status"] == "cancelled"
    again = client.delete(f"/api/v1/optimize/{run_id}")  # nothing left to cancel: 409 with the status
    assert again.status_code == 409 and again.json()["detail"]["status"] == "cancelled" and "already cancelled" in again.json()["detail"]["error"]


def test_progress_is_real(client, bristol_request):
    big = json.loads(json.dumps(bristol_request))
    big["scenario_config"]["n_scenarios"] = 200_000
    run_id = client.post("/api/v1/optimize", json=big).json()["run_id"]
    seen = set()
    while True:
        st = client.get(f"/api/v1/optimize/{run_id}/status").json()
        seen.add(round(st["progress"], 2))
        if st["status"] in ("completed", "failed", "cancelled"):
            break
        if st["status"] == "running":
            code = client.get(f"/api/v1/optimize/{run_id}/result").status_code
            assert code == 409 or (code == 200 and client.get(f"/api/v1/optimize/{run_id}/status").json()["status"] == "completed")
        time.sleep(0.05)
    assert st["status"] == "completed" and len([p for p in seen if 0 < p < 1]) >= 2


def test_backtest_endpoints(fits_dir):
    """A rolling-origin backtest through the API (the session's fits are reused from its state directory)."""
    app = create_app(Settings(state_dir=fits_dir, rate_limit_per_minute=10_000))
    with TestClient(app) as client:
        r = client.post("/api/v1/backtest", json={"seasons": [2025], "track_type": "road", "n_scenarios": 200, "seed": 1})
        assert r.status_code == 202
        run_id = r.json()["run_id"]
        assert wait(client, run_id, "backtest", timeout=600)["status"] == "completed"
        rep = client.get(f"/api/v1/backtest/{run_id}/result").json()
        assert rep["races"] == 6 and {"crps", "pit_coverage"} <= set(rep["model"])
        assert rep["settings"]["fits"]["2025"]["fit_seasons"] == [2015, 2024]
        bad = client.post("/api/v1/backtest", json={"seasons": [2015], "n_scenarios": 100})
        assert bad.status_code == 422 and "season 2015 has no season before it" in bad.json()["detail"][0]
        bad = client.post("/api/v1/backtest", json={"seasons": [-1], "n_scenarios": 100})
        assert bad.status_code == 422 and "no races in season(s) -1" in bad.json()["detail"][0]
        # a run id of the other kind is unknown to these routes
        assert client.get(f"/api/v1/optimize/{run_id}/result").status_code == 404
        assert client.get(f"/api/v1/optimize/{run_id}/status").status_code == 404


def test_health_docs_limits_cors(tmp_path):
    app = create_app(Settings(state_dir=tmp_path, rate_limit_per_minute=5, max_body_bytes=2000, cors_origins=["https://dfs.example"]))
    with TestClient(app) as c:
        h = c.get("/api/v1/health").json()
        assert h["version"] and h["ontology_backend"] == "embedded" and h["neo4j_reachable"] is None
        assert c.get("/docs").status_code == 200 and "/api/v1/optimize" in c.get("/openapi.json").json()["paths"]
        pre = c.options("/api/v1/health", headers={"Origin": "https://dfs.example", "Access-Control-Request-Method": "GET"})
        assert pre.headers.get("access-control-allow-origin") == "https://dfs.example"
        big = {**EXAMPLE, "slate_id": "x" * 5000}
        assert c.post("/api/v1/optimize", json=big).status_code == 413
        codes = [c.get("/api/v1/optimize/x/status").status_code for _ in range(5)]
        r = c.get("/api/v1/optimize/x/status")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and 429 not in codes[:1]


def test_health_reports_neo4j_unreachable(tmp_path):
    app = create_app(Settings(state_dir=tmp_path, ontology_backend="neo4j", neo4j_uri="bolt://127.0.0.1:9", neo4j_timeout_s=1))
    with TestClient(app) as c:
        h = c.get("/api/v1/health").json()
        assert h["neo4j_reachable"] is False and "bolt://127.0.0.1:9" in h["neo4j_detail"] and h["ontology_backend"] == "embedded"


# ----------------------------------------------------------------------------- a real server
class Receiver(BaseHTTPRequestHandler):
    got: list = []

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        Receiver.got.append(json.loads(self.rfile.read(n)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_real_server_restart_and_webhook(tmp_path, bristol_request):
    hook_port = free_port()
    hook = HTTPServer(("127.0.0.1", hook_port), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    port = free_port()
    allow = {"PITWALL_WEBHOOK_ALLOW": '["127.0.0.1"]'}
    proc, base = start_api(tmp_path, port, **allow)
    try:
        req = {**bristol_request, "webhook_url": f"http://127.0.0.1:{hook_port}/done"}  # allowed by PITWALL_WEBHOOK_ALLOW
        done = httpx.post(f"{base}/optimize", json=req).json()["run_id"]
        for _ in range(600):
            if httpx.get(f"{base}/optimize/{done}/status").json()["status"] == "completed":
                break
            time.sleep(0.1)
        before = httpx.get(f"{base}/optimize/{done}/result").json()
        for _ in range(50):
            if Receiver.got:
                break
            time.sleep(0.1)
        assert Receiver.got and Receiver.got[0]["run_id"] == done and Receiver.got[0]["status"] == "completed"
        hook_status = httpx.get(f"{base}/optimize/{done}/status").json()["webhook"]  # the delivery is on record
        assert hook_status["delivered"] and hook_status["attempts"][0]["status_code"] == 204
        long = {**bristol_request, "webhook_url": f"http://127.0.0.1:{hook_port}/interrupted",
                "scenario_config": {**bristol_request["scenario_config"], "n_scenarios": 1_000_000}}
        running = httpx.post(f"{base}/optimize", json=long).json()["run_id"]
        for _ in range(100):
            if httpx.get(f"{base}/optimize/{running}/status").json()["status"] == "running":
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc, _ = start_api(tmp_path, port, **allow)
    try:
        after = httpx.get(f"{base}/optimize/{done}/result")
        assert after.status_code == 200 and after.json() == before
        st = httpx.get(f"{base}/optimize/{running}/status").json()
        assert st["status"] == "failed" and st["error"] == "interrupted by restart"
        assert httpx.get(f"{base}/health").json()["jobs_interrupted_at_start"] == 1
        for _ in range(100):  # a job that ends "interrupted by restart" tells its webhook too
            if any(g["run_id"] == running for g in Receiver.got):
                break
            time.sleep(0.1)
        told = [g for g in Receiver.got if g["run_id"] == running]
        assert told and told[0]["status"] == "failed" and told[0]["error"] == "interrupted by restart"
    finally:
        proc.terminate()
        proc.wait(10)
        hook.shutdown()


def test_forwarded_for_does_not_reset_the_rate_limit(tmp_path):
    """A real uvicorn server: X-Forwarded-For from a client that is not a trusted proxy is ignored,
    so a new header value gets no fresh allowance."""
    proc, base = start_api(tmp_path, PITWALL_RATE_LIMIT_PER_MINUTE="5")
    try:
        codes = [httpx.get(f"{base}/optimize/x/status", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                 for i in range(8)]
        assert codes.count(429) >= 2 and codes[-1] == 429, codes  # (the health probe at start used one)
    finally:
        proc.terminate()
        proc.wait(10)
    proc, base = start_api(tmp_path, PITWALL_RATE_LIMIT_PER_MINUTE="5", PITWALL_TRUSTED_PROXIES='["127.0.0.1"]')
    try:  # behind a trusted proxy each forwarded client has its own allowance
        codes = [httpx.get(f"{base}/optimize/x/status", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                 for i in range(8)]
        assert 429 not in codes, codes
    finally:
        proc.terminate()
        proc.wait(10)


def test_docs_are_served_without_a_cdn(client):
    page = client.get("/docs").text
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/static-offline-docs/{asset}" in page
        r = client.get(f"/static-offline-docs/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000
    assert "cdn.jsdelivr.net" not in client.get("/redoc").text


def test_contest_end_to_end_and_its_refusals(client, bristol_request):
    req = {**bristol_request, "n_lineups": 3, "scenario_config": {**bristol_request["scenario_config"], "n_scenarios": 1000,
                                                                  "calibration_enabled": False},
           "contest_size": 400, "entry_fee": 5, "payouts": "double-up", "select": True,
           "ownership": [{"driver_id": "ryan-blaney", "ownership": 30}]}
    r = client.post("/api/v1/contest", json=req)
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    st = wait(client, run_id, kind="contest")
    assert st["status"] == "completed", st
    res = client.get(f"/api/v1/contest/{run_id}/result").json()
    assert res["contest"]["size"] == 400 and res["field"]["lineups"] == 397 and len(res["lineups"]) == 3
    assert res["selection"]["candidates"] >= 1000 and "roi" in res["selection"]["optimizer_portfolio"]
    assert {o["driver_id"]: o["target"] for o in res["field"]["ownership"]}["ryan-blaney"] == 30
    fs = res["field_strength"]  # which field model, and the tilt's effect
    assert fs["source"] == "assumption" and fs["strength"] == 0.8 and "roi_without_tilt" in fs and "ASSUMPTION" in fs["description"]
    assert client.get(f"/api/v1/optimize/{run_id}/status").status_code == 404  # a run of the other kind
    for bad, why in [({"ownership": [{"driver_id": "nobody", "ownership": 5}]}, "ownership[0]: driver 'nobody' is not on the slate"),
                     ({"payout_table": [{"place_from": 1, "place_to": 500, "prize": 10}]}, "place 500 is beyond the contest size 400"),
                     ({"payouts": "huge"}, "payouts"), ({"field_strength": 1.5}, "a field strength is a mean lineup percentile")]:
        r = client.post("/api/v1/contest", json={**req, **bad})
        assert r.status_code == 422 and why in json.dumps(r.json()), (bad, r.text)


def test_series_in_the_request(client):
    """`series` picks the history, the model and the tracks (default cup); the Truck slate at Bristol runs end to end."""
    truck = shipped_salary_slate("dk_2026-04-10_truck_bristol.csv")
    keep = {"driver_id", "skill", "aggression", "shadow_risk", "name", "salary", "site_player_id"}
    req = {"slate_id": "truck-bristol", "series": "truck", "random_seed": 3,
           "drivers": [{k: v for k, v in d.model_dump(mode="json").items() if k in keep} for d in truck.drivers],
           "scenario_config": {"track_id": "bristol", "n_scenarios": 500, "race_length": 250, "calibration_enabled": True}}
    run_id = client.post("/api/v1/optimize", json=req).json()["run_id"]
    assert wait(client, run_id)["status"] == "completed"
    body = client.get(f"/api/v1/optimize/{run_id}/result").json()
    assert body["series"] == "truck" and len(body["lineup"]) == 6
    assert body["scenario_diagnostics"]["calibration_metrics"] is None or body["scenario_diagnostics"]["calibration_metrics"]["crps"] > 0
    # St. Petersburg is a 2026 Truck track: unknown to the Cup (the default series)
    bad = client.post("/api/v1/optimize", json={**req, "series": "cup", "scenario_config": {"track_id": "st_petersburg", "n_scenarios": 100}})
    assert bad.status_code == 422 and "unknown track 'st_petersburg' for the cup series" in bad.json()["detail"][0]
    wrong = client.post("/api/v1/optimize", json={**req, "series": "f1"})
    assert wrong.status_code == 422 and "series" in json.dumps(wrong.json())
    health = client.get("/api/v1/health").json()
    assert set(health["series_models"]) == {"cup", "nxs", "truck"}
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ApiOptimizeRequest", "ApiContestRequest", "BacktestRequest"):
        assert schema[name]["properties"]["series"]["default"] == "cup", name
    assert schema["Series"]["enum"] == ["cup", "nxs", "truck"]
