"""Who may call: API keys, their scopes, and API Gateway's authorizer.

- `keys`: the app's own key check (`require_api_key`, `hash_api_key`) and the secrets it needs
  (key hashes from the settings or SSM, the feedback-token secret from Secrets Manager).
- `scopes`: what a stored key entry (`HASH:scope+scope`) may do (`parse_key_entry`, `SCOPES`).
- `authorizer`: the gateway's Lambda authorizer (`authorize`): per-key throttling.
- `commands`: `create-api-key` / `revoke-api-key` (a key is shown once; only its hash is kept).
"""
