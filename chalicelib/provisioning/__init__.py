"""Provisioning: serve a custom / fine-tuned model and register it as a deployment version.

- `service`: create (checks before any provider call, idempotent by name), read (status
  refreshed from the provider), deprovision, wait until in service, `register` (a new version
  whose prompt format is recovered from the model's own training data), and
  `provision_and_register`, the one call `tune --wait --provision --register` makes.
- `providers`: Bedrock (Provisioned Throughput or an on-demand custom model deployment;
  the custom model's training data from S3) and OpenAI (a fine-tuned model is served as
  is; its training file from the files API).
- `models`: the routes' request and answer bodies; `commands`: the CLI.
"""
