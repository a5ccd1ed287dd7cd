"""portal.pagination: the desk's and the gate list's pages, as Flask-SQLAlchemy's Pagination."""

from __future__ import annotations

from sqlalchemy import select

from portal.pagination import paginate_list, paginate_rows
from portal.tenants.models import Tenant


def test_a_list_page_past_the_end_shows_the_last_and_an_empty_list_has_one_page():
    page = paginate_list(list(range(5)), page=9, per_page=2)
    assert (page.items, page.page, page.pages, page.total) == ([4], 3, 3, 5)
    assert page.has_prev and not page.has_next and page.prev_num == 2
    assert page.prev().items == [2, 3] and page.prev().next().items == [4]
    empty = paginate_list([], page=1, per_page=2)
    assert (empty.items, empty.pages, empty.has_next) == ([], 1, False)


def test_a_rows_page_keeps_every_column_and_counts_without_the_order(app, make_tenant):
    with app.app_context():
        for slug in ("a", "b", "c"):
            make_tenant(slug, slug.upper())
        query = select(Tenant.slug, Tenant.name).order_by(Tenant.slug.desc())
        page = paginate_rows(query, page=2, per_page=2)
        assert [tuple(r) for r in page.items] == [("a", "A")]
        assert (page.page, page.pages, page.total) == (2, 2, 3)
        assert [tuple(r) for r in paginate_rows(query, page=5, per_page=2).items] == [("a", "A")]
