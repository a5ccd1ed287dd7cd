"""One way to paginate: Flask-SQLAlchemy's ``Pagination``, the object ``db.paginate`` returns.

A list of one model is ``db.paginate(select(Model)…)`` (the page number from the request). For
what ``db.paginate`` cannot page, the same object comes from here, so that every list has the
same attributes and the one pager macro (``templates/_macros.html``):

- ``paginate_rows``: a SELECT of several columns or entities (``db.paginate`` keeps only the
  first of each row), e.g. the account manager's desk;
- ``paginate_list``: a list already in memory, e.g. a change's tenant gates.

These two take a validated page number and show the last page for one past the end, and an
empty list has one page (``pages`` is at least 1), as the desk always did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, select

from portal.extensions import db


class _LastPageForPastEnd(Pagination):
    """A page whose number is cut to the last page, counted before the items are read."""

    def __init__(self, *, total: int, page: int, per_page: int, **query: Any) -> None:
        self._total = total
        last = max(1, math.ceil(total / per_page))
        super().__init__(
            page=min(page, last),
            per_page=per_page,
            max_per_page=None,
            error_out=False,
            count=False,  # counted already, for the cut
            **query,
        )
        self.total = total

    @property
    def pages(self) -> int:
        """The number of pages, at least 1."""
        return max(1, math.ceil(self._total / self.per_page))

    def _query_count(self) -> int:
        return self._total

    def prev(self, *, error_out: bool = False) -> Pagination:
        """The previous page (``error_out`` is accepted for ``Pagination``'s signature)."""
        return type(self)(
            total=self._total, page=self.page - 1, per_page=self.per_page, **self._query_args
        )

    def next(self, *, error_out: bool = False) -> Pagination:
        """The next page (``error_out`` is accepted for ``Pagination``'s signature)."""
        return type(self)(
            total=self._total, page=self.page + 1, per_page=self.per_page, **self._query_args
        )


class RowsPage(_LastPageForPastEnd):
    """A page of a SELECT's rows (``Row`` objects, every column kept)."""

    def _query_items(self) -> list[Any]:
        query: Select = self._query_args["query"]
        return list(db.session.execute(query.limit(self.per_page).offset(self._query_offset)).all())


class ListPage(_LastPageForPastEnd):
    """A page of a list in memory."""

    def _query_items(self) -> list[Any]:
        items: Sequence[Any] = self._query_args["items"]
        return list(items[self._query_offset : self._query_offset + self.per_page])


def paginate_rows(query: Select, *, page: int, per_page: int) -> RowsPage:
    """Page ``page`` (from 1) of ``query``'s rows, ``per_page`` to a page, in the query's
    order: two statements, the count (without the ORDER BY) and the page."""
    total = db.session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    return RowsPage(total=total, page=page, per_page=per_page, query=query)


def paginate_list(items: Sequence[Any], *, page: int, per_page: int) -> ListPage:
    """Page ``page`` (from 1) of ``items``, ``per_page`` to a page."""
    return ListPage(total=len(items), page=page, per_page=per_page, items=items)
