"""Hot routes answer with pre-serialised JSON instead of handing FastAPI a model to re-check.

A plain ``def`` route that returns a pydantic model makes FastAPI validate it against
``response_model`` in its threadpool (a second thread hop after the route's own) and then dump
it. The service builds these models itself, so the check can never fail; dumping them in the
route's own thread saves the hop. ``response_model`` stays on the route for the OpenAPI schema,
and the tests (schemathesis among them) hold the answers to it.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(model: BaseModel) -> Response:
    """``model`` as an ``application/json`` response, dumped by pydantic's serialiser."""
    return Response(content=model.model_dump_json(), media_type="application/json")
