"""Storage: every record the service keeps, behind one Protocol per store.

- `invocations`: `InvocationStore` (one record per invoke), `feedback`: `FeedbackStore` (one
  record per invocation, revised by later posts), `jobs`: `JobStore` (evaluation jobs, their
  chunks and answer cache, every change conditional on status and round), `provisioned`:
  `ProvisionedStore` (provisioned models by name, created once).
- Each has a DynamoDB implementation (`Dynamo…`, built by `runtime` and `jobs.context`) and an
  in-memory one (`Memory…`; the job store's in `memory_jobs`) with the same semantics, for
  fast tests; `tests/storage` runs one suite against both.
- `dynamo`: what the DynamoDB stores share (outages → ServiceUnavailable, conditional writes →
  AlreadyExists or False, the UpdateItem builder); `codec`: plain values ↔ attribute values.

Adding a store (deployments, tuning jobs): a module with its record, its Protocol and both
implementations (the DynamoDB one through `dynamo`); its table name in `config/settings.py`,
the table in `deploy/bootstrap.py` and in `infra/resources.json` with its grants; a
fixture in `tests/storage/conftest.py` and a test module there.
"""
