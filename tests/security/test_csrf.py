"""CSRF: with protection on (as in production), every HTML form route refuses a POST without a
token (400) and changes nothing. The JSON API is exempt: it takes Bearer tokens only."""

from portal.extensions import csrf, db
from tests.security.conftest import CSRF_EXEMPT_VIEWS, db_fingerprint, fill, is_api, rules


def form_rules(app):
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for rule in rules(app, method):
            if not is_api(rule):
                yield method, rule


def test_only_known_views_are_exempt_from_csrf(app):
    exempt_blueprints = {bp.name if hasattr(bp, "name") else bp for bp in csrf._exempt_blueprints}
    unexpected = []
    for _, rule in form_rules(app):
        view = app.view_functions[rule.endpoint]
        name = f"{view.__module__}.{view.__name__}"
        blueprint = rule.endpoint.rpartition(".")[0]
        if (
            name in csrf._exempt_views or blueprint in exempt_blueprints
        ) and name not in CSRF_EXEMPT_VIEWS:
            unexpected.append(f"{rule.rule} ({rule.endpoint})")
    assert not unexpected, "exempt from CSRF without a reason: " + ", ".join(unexpected)


def test_every_form_post_without_a_token_is_refused(app, login, world):
    app.config["WTF_CSRF_ENABLED"] = True
    client = login(world.users["admin"])
    failures = []
    for method, rule in form_rules(app):
        view = app.view_functions[rule.endpoint]
        if f"{view.__module__}.{view.__name__}" in CSRF_EXEMPT_VIEWS:
            continue
        path = fill(rule)
        before = db_fingerprint()
        r = client.open(
            path,
            method=method,
            data={
                "name": "x",
                "email": "x@x.example",
                "slug": "x",
                "active": "0",
                "password": "a-long-enough-password",
                "time_zone": "UTC",
            },
        )
        db.session.expire_all()
        if r.status_code != 400 or b"CSRF" not in r.data:
            failures.append(f"{method} {path} ({rule.endpoint}): {r.status_code}")
        elif db_fingerprint() != before:
            failures.append(f"{method} {path} ({rule.endpoint}): changed the database")
    assert not failures, "\n".join(failures)


def test_a_post_with_a_token_from_the_form_is_accepted(app, login, world):
    """The control: the same client passes once it sends the token the form carries."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = login(world.users["admin"])
    page = client.get("/admin/tenants/new").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    r = client.post(
        "/admin/tenants/new",
        data={"csrf_token": token, "slug": "fresh", "name": "Fresh", "time_zone": "UTC"},
    )
    assert r.status_code == 302
