"""Answering one request with a deployment: the invoke path.

- `invoke`: format, call, parse, record (`invoke`, `invoke_prompt`, `InvocationContext`).
- `prompting`: the deployment's trained prompt format and inference parameters.
- `parsing`: the model's raw text read as the deployment's output type (label, number, text).
- `feedback_tokens`: the HMAC token an answer carries, so its feedback needs no API key.

The OpenAI-compatible routes (`chalicelib.openai_api`) and the evaluation runner call these.
"""
