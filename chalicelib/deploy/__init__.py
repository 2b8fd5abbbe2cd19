"""Making a stage's AWS resources and permissions (the CLI's `bootstrap` and `policy`).

- `bootstrap`: tables, queues and buckets, idempotently, on whatever endpoints boto3 is
  configured with (`bootstrap_resources`).
- `iam`: least-privilege policies, one role per function, from the registry and settings
  (`function_policies`).
"""
