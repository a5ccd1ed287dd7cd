"""Declaring the API once: flask-smorest blueprints, marshmallow schemas, one error shape.

Each operation is declared with its request schema (``@bp.arguments``), its response schema
(``@bp.response``) and its refusals (``@bp.refusals``). The same declaration validates the input
(a 400 naming the field, raised as ``InvalidInput`` so ``portal.errors`` answers it like every
other refusal), serialises the output (``Schema.dump``) and generates the OpenAPI document
served at ``/api/v1/openapi.json`` (``portal.api.openapi``). How to add an endpoint:
``docs/api.md``.

Why flask-smorest: it plugs into an existing Flask 3 app (its Blueprint *is* a Flask
blueprint, so the Bearer-token ``before_request`` and the app's JSON error handler stay as
they are), and one marshmallow schema both loads requests and dumps responses. APIFlask wants
its own app class and error format; Spectree validates but leaves serialisation to the view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Flask
from webargs.flaskparser import FlaskParser
from werkzeug.routing import IntegerConverter

from portal.api.fields import MAX_ID
from portal.api.schemas import ErrorSchema
from portal.errors import InvalidInput
from portal.security import check_json_depth, check_json_strings


def _digits_up_to(limit: int) -> str:
    """A regular expression matching exactly the decimal numbers 1..``limit``."""
    text = str(limit)
    options = [f"[1-9]\\d{{0,{len(text) - 2}}}"] if len(text) > 1 else []
    for i, digit in enumerate(text):
        low = "1" if i == 0 else "0"
        if int(digit) > int(low):
            rest = len(text) - i - 1
            options.append(
                f"{text[:i]}[{low}-{int(digit) - 1}]" + (f"\\d{{{rest}}}" if rest else "")
            )
    options.append(text)
    return "(?:" + "|".join(options) + ")"


class IdConverter(IntegerConverter):
    """``<id:name>``: a database id, 1 to 2^31-1; anything else matches no route (404).

    The bound is in the pattern rather than in ``max``: Werkzeug answers a converter's
    refusal with 405 when another method's rule has the same path.
    """

    regex = _digits_up_to(MAX_ID)

    def __init__(self, map):  # noqa: A002  (Werkzeug's name)
        super().__init__(map, min=1, max=MAX_ID)


def _first_error(messages: Any, path: tuple = ()) -> tuple[tuple, str]:
    """The first (path, message) in marshmallow's nested error messages."""
    if isinstance(messages, Mapping):
        key, value = next(iter(messages.items()))
        return _first_error(value, path + (key,))
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], path)
    return path, str(messages)


class ApiParser(FlaskParser):
    """webargs' Flask parser with the portal's refusals: ``InvalidInput`` (400) naming the field.

    A body that is present must be a JSON object sent as ``application/json``; an absent body
    is an empty object (operations whose fields are all optional take none).
    """

    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req, schema):
        if not req.get_data(cache=True):
            return ma.missing
        if not req.is_json:
            raise InvalidInput("send a JSON object with Content-Type: application/json")
        # The same refusals as the app's JSON provider (portal.security): too deep, lone
        # surrogates, NUL; checked before webargs parses, after authentication.
        check_json_depth(req.get_data(cache=True))
        try:
            value = super().load_json(req, schema)
        except ValueError:  # not a JSONDecodeError: an integer past int's 4,300 digits
            raise InvalidInput("the body is not valid JSON") from None
        check_json_strings(value)
        return value

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise InvalidInput("the body is not valid JSON")

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        path, message = _first_error(error.normalized_messages())
        names = [str(p) for p in path[1:] if not isinstance(p, int)]  # path[0] is the location
        field = names[0] if names else None
        if field in (None, "_schema"):
            if "Invalid input type" in message:
                message = "the body is not a JSON object"
            raise InvalidInput(message)
        if message == "Unknown field.":
            message = f"unknown field {field!r}"
        elif field not in message:
            message = f"{field}: {message}"
        raise InvalidInput(message, field=field)


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest blueprint that documents itself in its app's API when registered."""

    ARGUMENTS_PARSER = ApiParser()

    def __init__(self, *args, public: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.public = public

    def register(self, app: Flask, options: dict) -> None:
        app.url_map.converters.setdefault("id", IdConverter)
        super().register(app, options)
        api = api_for(app)
        name = options.get("name", self.name)
        app.extensions["flask-smorest"]["blp_name_to_api"][name] = api
        self.register_views_in_doc(api, app, api.spec, name=name, parameters=None)
        api.spec.tag({"name": name, "description": self.description})

    def refusals(self, **descriptions: str):
        """Declare an operation's error answers: ``@bp.refusals(e404="not yours to see")``.

        Every refusal has the body ``{"error": {"status", "message", "field"?, …}}``. 401
        (missing or bad token) is added to every operation of a token-authenticated blueprint.
        """
        if not self.public:
            descriptions = {"e401": "missing, invalid, expired or revoked token", **descriptions}

        def decorate(view):
            for key, text in descriptions.items():
                code = int(key.removeprefix("e"))
                view = self.alt_response(code, schema=ErrorSchema, description=text)(view)
            return view

        return decorate


class Api(flask_smorest.Api):
    """The app's API description; errors stay with ``portal.errors`` (one JSON shape)."""

    DEFAULT_ERROR_RESPONSE_NAME = None  # every status an operation answers is declared

    def _register_error_handlers(self) -> None:
        pass

    def _register_doc_blueprint(self) -> None:
        pass  # served by portal.api.openapi under the name the security tests know


def api_for(app: Flask) -> Api:
    """The app's ``Api`` (created on first use, when the first API blueprint registers)."""
    ext = app.extensions.get("flask-smorest")
    if ext is None:
        Api.ERROR_SCHEMA = ErrorSchema
        api = Api(
            app,
            spec_kwargs={
                "title": "Forewarn API",
                "version": "1",
                "openapi_version": "3.1.0",
                "info": {
                    "description": "Change announcements with enforced notice windows. "
                    "Authenticate with `Authorization: Bearer <API token>`."
                },
                "security": [{"bearer": []}],
            },
        )
        api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
        return api
    return ext["apis"][""]["ext_obj"]
