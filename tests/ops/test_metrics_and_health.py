"""Metrics and health (issue 18 item 3): /metrics behind a bearer token with the delivery,
gate and ledger figures an operator alerts on; /healthz answers without the database; /readyz
checks the database, the migrations, the worker heartbeat and the relay it reported."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import request
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from portal import ConfigurationError, create_app
from portal.clock import utcnow
from portal.extensions import db
from portal.ops import health
from tests.conftest import T0

TOKEN = "metrics-token-" + "x" * 20


@pytest.fixture
def app_config(app_config):
    return {**app_config, "METRICS_TOKEN": TOKEN}


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


# /metrics: who may read it ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer wrong-token", 401),
        ("Basic dXNlcjpwYXNz", 400),
        ("Bearer", 400),
        ("Bearer two words", 400),
        ("Bearer \x01bad", 400),
    ],
)
def test_metrics_refuse_a_missing_malformed_or_wrong_token(client, header, status):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]["message"]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_metrics_refuse_query_parameters_and_other_methods(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    response = client.get("/metrics?name[]=x", headers=auth)
    assert response.status_code == 400
    assert "takes no query parameters" in response.get_json()["error"]["message"]
    assert client.post("/metrics", headers=auth).status_code == 405


def test_metrics_are_off_without_a_token(app, client):
    app.config["METRICS_TOKEN"] = None
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404
    assert "PORTAL_METRICS_TOKEN" in response.text


# /metrics: what it says ---------------------------------------------------------------------
def test_metrics_show_due_notices_gates_failures_ledger_and_latency(
    published, client, clock, dispatch, sink
):
    clock.advance(minutes=10)
    before = scrape(client)
    assert before[("forewarn_notices_due", ())] == 5
    assert before[("forewarn_oldest_due_age_seconds", ())] == 600
    assert before[("forewarn_gates_shut", (("reason", "queued"),))] == 3
    assert before[("forewarn_tenants_with_failed_notices", ())] == 0
    assert before[("forewarn_ledger_entries", ())] > 0
    assert before[("forewarn_database_up", ())] == 1

    sink.replies["ops1@ptu.example"] = ["550 5.1.1 No such user here"]
    sink.replies["ops1@tapai.example"] = ["451 4.3.0 Try again later"]
    dispatch()
    after = scrape(client)
    assert after[("forewarn_notices_due", ())] == 0
    assert after[("forewarn_oldest_due_age_seconds", ())] == 0
    assert after[("forewarn_gates_shut", (("reason", "failed"),))] == 1
    assert after[("forewarn_gates_shut", (("reason", "queued"),))] == 0
    assert after[("forewarn_tenants_with_failed_notices", ())] == 1

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("forewarn_deliveries_total", outcome="sent") == 3
    assert delta("forewarn_deliveries_total", outcome="retry") == 1
    assert delta("forewarn_deliveries_total", outcome="failed") == 1
    assert delta("forewarn_delivery_retries_total", reason="4xx") == 1
    assert delta("forewarn_delivery_final_failures_total", kind="notice") == 1
    latency = [k for k in after if k[0] == "forewarn_request_duration_seconds_count" and k[1]]
    assert (
        "forewarn_request_duration_seconds_count",
        (("endpoint", "ops.metrics"), ("method", "GET")),
    ) in latency


def test_worker_heartbeat_and_relay_gauges(app, client):
    assert ("forewarn_worker_heartbeat_age_seconds", ()) not in scrape(client)
    now = utcnow()
    health.beat("w1", started_at=now, now=now, relay_error="refused", relay_checked=True)
    values = scrape(client)
    assert 0 <= values[("forewarn_worker_heartbeat_age_seconds", ())] < 5
    assert values[("forewarn_mail_relay_up", ())] == 0
    assert values[("forewarn_workers_alive", ())] == 1


def test_checkpoint_age_appears_once_a_checkpoint_is_signed(app, client, clock):
    from portal.ledger.models import LedgerCheckpoint

    assert ("forewarn_ledger_checkpoint_age_seconds", ()) not in scrape(client)
    db.session.add(
        LedgerCheckpoint(
            tree_size=1,
            root_hash=b"\0" * 32,
            note="x",
            verifier_key="k",
            issued_at=T0 - dt.timedelta(minutes=3),
        )
    )
    db.session.commit()
    assert scrape(client)[("forewarn_ledger_checkpoint_age_seconds", ())] == 180


def test_metrics_say_the_database_is_down_instead_of_failing(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "METRICS_TOKEN": TOKEN,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'missing' / 'db.sqlite3'}",
        }
    )
    values = scrape(app.test_client())
    assert values[("forewarn_database_up", ())] == 0
    assert app.test_client().get("/healthz").status_code == 200
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"]["detail"].startswith("database unreachable")


# /readyz ------------------------------------------------------------------------------------
def test_readyz_needs_a_recent_worker_heartbeat_that_reached_the_relay(app, client):
    body = client.get("/readyz").get_json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["migrations"]["ok"]
    assert body["checks"]["worker"] == {"ok": False, "detail": "no delivery worker heartbeat yet"}

    now = utcnow()
    health.beat("w1", started_at=now, now=now, relay_error=None, relay_checked=True)
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "ready"

    health.beat(
        "w1", started_at=now, now=now, relay_error="mail relay x: refused", relay_checked=True
    )
    body = client.get("/readyz").get_json()
    assert body["checks"]["relay"] == {"ok": False, "detail": "mail relay x: refused"}

    stale = now - dt.timedelta(seconds=app.config["READY_WORKER_MAX_AGE_SECONDS"] + 5)
    health.beat("w1", started_at=stale, now=stale, relay_error=None, relay_checked=True)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert not response.get_json()["checks"]["worker"]["ok"]


def test_readyz_for_a_load_balancer_checks_only_what_is_asked(client):
    response = client.get("/readyz?check=database&check=migrations")
    assert response.status_code == 200
    assert set(response.get_json()["checks"]) == {"database", "migrations"}


@pytest.mark.parametrize("query", ["check=bogus", "verbose=1"])
def test_readyz_refuses_unknown_checks(client, query):
    response = client.get(f"/readyz?{query}")
    assert response.status_code == 400
    assert "unknown check" in response.get_json()["error"]["message"]


def test_readyz_says_when_migrations_are_behind(app, client):
    head = health.migration_head()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        check = client.get("/readyz?check=migrations").get_json()["checks"]["migrations"]
    finally:
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert check == {
        "ok": False,
        "detail": f"database at 0001, code expects {head}: run `forewarn db upgrade`",
    }


# Settings -----------------------------------------------------------------------------------
def test_a_missing_multiprocess_folder_is_refused_at_startup(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigurationError, match="PROMETHEUS_MULTIPROC_DIR=.* is not a writable"):
        create_app({"TESTING": True})


def test_proxy_count_trusts_that_many_forwarding_proxies(tmp_path):
    app = create_app({"TESTING": True, "TRUSTED_PROXY_COUNT": 1})
    app.add_url_rule("/_peer", "peer", lambda: f"{request.remote_addr} {request.scheme}")
    answer = app.test_client().get(
        "/_peer", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    assert answer.text == "203.0.113.9 https"


@pytest.mark.parametrize("value", ["two", -1, 9, True])
def test_a_bad_proxy_count_is_refused_at_startup(value):
    with pytest.raises(ConfigurationError, match="PORTAL_TRUSTED_PROXY_COUNT"):
        create_app({"TESTING": True, "TRUSTED_PROXY_COUNT": value})


def test_readyz_answers_when_the_heartbeat_table_cannot_be_read(client, monkeypatch):
    from sqlalchemy.exc import ProgrammingError

    def missing_table():
        raise ProgrammingError("SELECT …", {}, Exception('relation "worker_heartbeats"'))

    monkeypatch.setattr(health, "latest_heartbeat", missing_table)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["worker"] == {
        "ok": False,
        "detail": "worker heartbeats cannot be read (is the schema current?)",
    }
