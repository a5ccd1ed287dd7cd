"""Every changes screen for every role: who gets the page, who a 403, who a 404 (existence
of another team's or tenant's change never leaks), and anonymous visitors are sent to sign in."""

from __future__ import annotations

import pytest

from tests.changes.test_screens import as_user, make_draft, publish

ROLES = ("admin", "ana", "cy", "manager", "tapai_user", "bystander_user")

# path template → expected status per role (published change affecting Tapai and Ptu).
EXPECTED = {
    "/changes": dict(admin=200, ana=200, cy=200, manager=200, tapai_user=200, bystander_user=200),
    "/changes/new": dict(
        admin=200, ana=200, cy=200, manager=403, tapai_user=403, bystander_user=403
    ),
    "/changes/{id}": dict(
        admin=200, ana=200, cy=404, manager=200, tapai_user=200, bystander_user=404
    ),
    "/changes/{id}/edit": dict(
        admin=200, ana=200, cy=404, manager=403, tapai_user=403, bystander_user=403
    ),
    "/changes/{id}/cancel": dict(
        admin=200, ana=200, cy=404, manager=403, tapai_user=403, bystander_user=403
    ),
    "/admin/notice": dict(
        admin=200, ana=403, cy=403, manager=403, tapai_user=403, bystander_user=403
    ),
    "/admin/notice/tenants/{tenant}/terms": dict(
        admin=200, ana=403, cy=403, manager=403, tapai_user=403, bystander_user=403
    ),
    "/settings/blackouts": dict(
        admin=404, ana=403, cy=403, manager=403, tapai_user=200, bystander_user=200
    ),
}


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_each_screen_for_each_role(story, login, admin, path):
    change = make_draft(story)
    publish(change, story)
    url = path.format(id=change.id, tenant=story.tapai.id)
    users = {"admin": admin, **{r: getattr(story, r) for r in ROLES if r != "admin"}}
    got = {role: as_user(login, users[role]).get(url).status_code for role in ROLES}
    assert got == EXPECTED[path]


@pytest.mark.parametrize(
    "path", ["/changes", "/changes/new", "/admin/notice", "/settings/blackouts"]
)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.location
