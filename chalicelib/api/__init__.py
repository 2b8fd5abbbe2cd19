"""The HTTP edge: everything between API Gateway and the services, nothing about models.

- `edge`: route registration with scopes and gateway checks (`api_routes`), body and query
  parsing into strict models (`parse_body`, `parse_query`), responses in the contract's error
  envelope (`json_response`, `error_response`, `finish_response`), the caller (`caller`).
- `models`: request and response bodies (`RequestBody` is the strict base of every request).
- `operations` + `openapi`: every route with its models, and the OpenAPI document built from
  them (`document()`; `docs/openapi.json`).
- `payload`: the one JSON encoding of response bodies and their cost against Lambda's limit.
- `health`: `GET /health`'s dependency checks.

No re-exports here: a package's `__init__` runs on every import of its modules, and the edge is
on the invoke path's cold start.
"""
