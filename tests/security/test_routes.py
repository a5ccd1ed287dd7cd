"""Walk ``app.url_map``: no route fails for any role, anonymous users are sent to sign in, and
another tenant's objects are a 404 (never a leak, never a change) on every route with an id."""

import pytest

from portal.extensions import db
from tests.security.conftest import (
    NOT_READY,
    PUBLIC_ENDPOINTS,
    ROLES,
    TOKEN_ENDPOINTS,
    bearer_for,
    db_fingerprint,
    fill,
    has_params,
    is_api,
    rules,
)

# Everyone on tenant A's side: its users, its account manager, and an engineer of another team
# than the one that owns tenant B's change.
OUTSIDER_ROLES = ["customer", "tenant_admin", "account_manager", "engineer"]


def report(failures) -> str:
    return "\n".join(
        f"{method} {path} ({endpoint}): {problem}" for method, path, endpoint, problem in failures
    )


def test_anonymous_users_are_sent_to_sign_in(app, client, world):
    failures = []
    for rule in rules(app, "GET"):
        if has_params(rule):
            continue
        r = client.get(rule.rule)
        if r.status_code >= 500 and (rule.endpoint, r.status_code) not in NOT_READY:
            failures.append(("GET", rule.rule, rule.endpoint, r.status_code))
        elif rule.endpoint in PUBLIC_ENDPOINTS or r.status_code == 404:
            continue  # public by design, or switched off here (e.g. the demo's mailbox)
        elif is_api(rule):
            if r.status_code != 401:
                failures.append(("GET", rule.rule, rule.endpoint, f"{r.status_code}, not 401"))
        elif r.status_code != 302 or "/login" not in r.headers.get("Location", ""):
            failures.append(
                ("GET", rule.rule, rule.endpoint, f"{r.status_code}, not a redirect to /login")
            )
    assert not failures, report(failures)


@pytest.mark.parametrize("role", ROLES)
def test_no_get_route_without_parameters_fails_for(role, app, login, world):
    u = world.users[role]
    client = login(u)
    headers = bearer_for(u)
    failures = []
    for rule in rules(app, "GET"):
        if has_params(rule):
            continue
        r = client.get(rule.rule, headers=headers if is_api(rule) else {})
        if r.status_code >= 500 and (rule.endpoint, r.status_code) not in NOT_READY:
            failures.append(("GET", rule.rule, rule.endpoint, r.status_code))
    assert not failures, report(failures)


def id_rules(app, method):
    for rule in rules(app, method):
        if not has_params(rule) or rule.endpoint in PUBLIC_ENDPOINTS | TOKEN_ENDPOINTS:
            continue
        path, missing = fill(rule), fill(rule, 999999, "no-such-thing")
        if path is not None:
            yield rule, path, missing


@pytest.mark.parametrize("role", ROLES)
def test_no_get_route_with_an_id_fails_for(role, app, login, world):
    """Every id route, filled with another tenant's objects, answers without a 500."""
    u = world.users[role]
    client = login(u)
    headers = bearer_for(u)
    failures = []
    for rule, path, _ in id_rules(app, "GET"):
        r = client.get(path, headers=headers if is_api(rule) else {})
        if r.status_code >= 500:
            failures.append(("GET", path, rule.endpoint, r.status_code))
    assert not failures, report(failures)


@pytest.mark.parametrize("role", OUTSIDER_ROLES)
def test_another_tenants_objects_are_404_on_every_get_route(role, app, login, world):
    u = world.users[role]
    client = login(u)
    headers = bearer_for(u)
    failures = []
    for rule, path, missing in id_rules(app, "GET"):
        h = headers if is_api(rule) else {}
        seen, absent = client.get(path, headers=h), client.get(missing, headers=h)
        if seen.status_code not in (403, 404) or seen.status_code != absent.status_code:
            failures.append(
                (
                    "GET",
                    path,
                    rule.endpoint,
                    f"{seen.status_code} (a missing id gives {absent.status_code})",
                )
            )
    assert not failures, report(failures)


@pytest.mark.parametrize("role", OUTSIDER_ROLES)
def test_another_tenants_objects_cannot_be_changed_on_any_post_route(role, app, login, world):
    """POSTing (forms and API) at another tenant's objects is refused and changes nothing."""
    u = world.users[role]
    client = login(u)
    headers = bearer_for(u)
    failures = []
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        for rule, path, missing in id_rules(app, method):
            before = db_fingerprint()
            if is_api(rule):
                send = {"headers": headers, "json": {}}
            else:
                send = {"data": {"active": "1", "tenant_admin": "1", "approver": "1"}}
            seen = client.open(path, method=method, **send)
            db.session.expire_all()
            changed = db_fingerprint() != before
            absent = client.open(missing, method=method, **send)
            db.session.expire_all()
            if changed:
                failures.append((method, path, rule.endpoint, "changed the database"))
            elif (
                seen.status_code < 400
                or seen.status_code >= 500
                or seen.status_code != absent.status_code
            ):
                failures.append(
                    (
                        method,
                        path,
                        rule.endpoint,
                        f"{seen.status_code} (a missing id gives {absent.status_code})",
                    )
                )
    assert not failures, report(failures)


def test_control_the_swept_ids_are_real_objects_their_owners_can_open(app, login, world):
    """Without this, the 404 sweeps above could pass on an empty world."""
    client = login(world.b_admin)
    assert client.get("/changes/1").status_code == 200
    assert client.get("/api/v1/changes/1", headers=bearer_for(world.b_admin)).status_code == 200
    assert b"ops1@tenant-b.example" in client.get("/settings/contacts").data


def test_control_admins_open_tenant_b(app, login, world):
    client = login(world.users["admin"])
    assert client.get("/admin/tenants/1").status_code == 200
    assert client.get("/admin/users/1").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_no_post_route_fails_on_empty_or_junk_input_for(role, app, login, world):
    """Bad input never crashes: every write route answers a form message or a 4xx, not a 500."""
    u = world.users[role]
    client = login(u)
    headers = bearer_for(u)
    failures = []
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        for rule in rules(app, method):
            path = fill(rule)
            if path is None or rule.endpoint == "auth.logout":
                continue
            for body in (
                {},
                {
                    "name": "\x00" * 3,
                    "email": "@",
                    "starts_at": "yesterday",
                    "id": "-1",
                    "services": "[]",
                },
            ):
                send = {"headers": headers, "json": body} if is_api(rule) else {"data": body}
                r = client.open(path, method=method, **send)
                if r.status_code >= 500:
                    failures.append((method, path, rule.endpoint, f"{r.status_code} on {body}"))
    assert not failures, report(failures)
