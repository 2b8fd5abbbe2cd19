"""OpenAI-compatible routes (CONTRACT section 9): `/v1/chat/completions`, `/v1/completions` and
the OpenAI half of `/v1/models`, mapped onto the one invoke path, so the deployment's trained
prompt format, stops and bounds apply whatever client speaks.

`models` (request bodies, lenient as OpenAI clients need), `service` (mapping to invoke),
`responses` (OpenAI's answer shapes), `edge` (auth and OpenAI's error shape)."""
