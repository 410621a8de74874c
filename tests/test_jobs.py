"""The job runner and its store: failure messages without tracebacks, retention, kinds; the
webhook policy (which URLs a job may call)."""

import ipaddress
import time

import pytest

from engine.jobs import webhooks
from engine.jobs.runner import JobRunner
from engine.jobs.store import JobStore
from engine.jobs.webhooks import WebhookPolicy, WebhookRefused


def test_a_failed_job_says_what_failed_without_a_traceback(tmp_path, caplog):
    runner = JobRunner(JobStore(tmp_path / "jobs.sqlite"), workers=1)

    def boom(progress, cancel):
        raise KeyError("/srv/secret/path.py")

    def refused(progress, cancel):
        raise ValueError("driver 'x': salary is missing")

    a = runner.submit("optimize", lambda d: d.run(boom))
    b = runner.submit("optimize", lambda d: d.run(refused))
    st_a, st_b = runner.wait(a), runner.wait(b)
    assert st_a["status"] == "failed" and st_a["error"].startswith("the run failed on an internal error (KeyError)")
    assert "Traceback" not in st_a["error"] and "/srv/secret" not in st_a["error"] and a in st_a["error"]
    assert st_b["error"] == "driver 'x': salary is missing"  # the engine's own message for refused input
    assert any("Traceback" in r.exc_text for r in caplog.records if r.exc_text)  # the traceback is in the server log
    runner.shutdown()


def test_runs_of_the_other_kind_are_unknown(tmp_path):
    runner = JobRunner(JobStore(tmp_path / "jobs.sqlite"), workers=1)
    run_id = runner.submit("backtest", lambda d: ({"races": 1}, None))
    runner.wait(run_id)
    assert runner.status(run_id, "backtest")["status"] == "completed"
    assert runner.status(run_id, "optimize") is None and runner.result(run_id, "optimize") is None
    runner.shutdown()


def test_finished_jobs_are_pruned_after_the_retention(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    for k, status in enumerate(["completed", "failed", "cancelled", "running"]):
        store.insert(f"old-{k}", "optimize", None, None, None, None)
        store.update(f"old-{k}", status=status)
    store.insert("new", "optimize", None, None, None, None)
    store.update("new", status="completed")
    with store._db() as db:  # age the old ones by 40 days
        db.execute("UPDATE jobs SET updated = updated - 40 * 86400 WHERE run_id LIKE 'old-%'")
    runner = JobRunner(store, workers=1, retention_days=30)  # prunes at start
    assert runner.pruned == 3
    left = {r["run_id"] for r in store.list(limit=100)}
    assert left == {"old-3", "new"}  # a job still running is never pruned (it is failed as interrupted instead)
    runner.shutdown()


def fixed(mapping):
    return lambda host, port: mapping[host]


def test_webhook_policy_refuses_internal_addresses_after_resolving(monkeypatch):
    policy = WebhookPolicy(resolve=fixed({"hooks.example": ["93.184.215.14"], "sneaky.example": ["93.184.215.14", "10.0.0.5"],
                                          "localhost": ["127.0.0.1", "::1"], "mapped.example": ["::ffff:127.0.0.1"]}))
    policy.check("https://hooks.example/x")
    for url, why in [("http://sneaky.example/", r"sneaky.example \(10.0.0.5\) is a private network address"),
                     ("http://localhost:6379/", "is a loopback address"),
                     ("http://mapped.example/", "is a loopback address"),
                     ("ftp://hooks.example/", "only http and https"),
                     ("http://user:pw@hooks.example/", "credentials in the URL")]:
        with pytest.raises(WebhookRefused, match=why):
            policy.check(url)
    # the server's own (public) addresses are refused too
    monkeypatch.setattr(webhooks, "own_addresses", lambda: frozenset({ipaddress.ip_address("93.184.215.14")}))
    with pytest.raises(WebhookRefused, match="an address of this server"):
        policy.check("https://hooks.example/x")


def test_webhook_allow_list_names_hosts_and_networks():
    resolve = fixed({"hooks.internal": ["10.1.2.3"], "other.internal": ["10.9.0.1"], "127.0.0.1": ["127.0.0.1"]})
    policy = WebhookPolicy(allow=("hooks.internal", "10.9.0.0/16", "127.0.0.1"), resolve=resolve)
    for url in ("http://hooks.internal/x", "http://other.internal/y", "http://127.0.0.1:9000/z"):
        policy.check(url)
    with pytest.raises(WebhookRefused):
        WebhookPolicy(resolve=resolve).check("http://hooks.internal/x")


def test_delivery_records_every_attempt():
    log = []
    ok = webhooks.deliver("http://127.0.0.1:9/x", {"run_id": "r"}, WebhookPolicy(), log.append, tries=2, backoff=0.01)
    assert not ok and len(log) == 1 and "loopback" in log[0]["error"] and log[0]["ok"] is False
    log.clear()
    allow = WebhookPolicy(allow=("127.0.0.1",))
    t = time.perf_counter()
    ok = webhooks.deliver("http://127.0.0.1:9/x", {"run_id": "r"}, allow, log.append, tries=3, backoff=0.01, timeout=1)
    assert not ok and [e["attempt"] for e in log] == [1, 2, 3] and all("ConnectError" in e["error"] for e in log)
    assert time.perf_counter() - t < 10
