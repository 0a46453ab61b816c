"""Query and path parameters obey the same text rule as bodies (`schemas.text`).

One dependency on the whole app, so a parameter added later cannot miss it: a value with
a control character or lone surrogate is a 422 naming the parameter, before any work
(a NUL sent on to PostgreSQL used to be a 500).
"""

from __future__ import annotations

from fastapi import Request

from api.problems import ApiProblem, FieldError
from schemas.text import refusal


async def refuse_untypeable_params(request: Request) -> None:
    located = [("query", name, value) for name, value in request.query_params.multi_items()]
    located += [("path", name, str(value)) for name, value in request.path_params.items()]
    errors = [
        FieldError(field=f"{where}.{name}", message=message)
        for where, name, value in located
        if (message := refusal(name) or refusal(value)) is not None
    ]
    if errors:
        raise ApiProblem(422, "invalid-request", "the request is not valid", errors=errors)
