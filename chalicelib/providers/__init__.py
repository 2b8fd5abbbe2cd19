"""Model providers behind one `complete()`: format the request, call (retrying as the caller's
RetryPolicy says, see retries.py), read the answer."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.config.registry import Deployment
from chalicelib.formats import Completion, InferenceParams, Prompt, get_format, truncate_at_stop
from chalicelib.providers import bedrock, openai_compat
from chalicelib.providers.retries import ONE_ATTEMPT, RetryPolicy


def complete(
    deployment: Deployment,
    prompt: Prompt,
    params: InferenceParams,
    retry: RetryPolicy = ONE_ATTEMPT,
) -> Completion:
    """The deployment's answer; `retry` is how hard the provider itself tries (by default once:
    the caller retries, as the evaluation runner does; the invoke path passes its own)."""
    fmt = get_format(deployment.provider, deployment.request_format)
    request = fmt.build_request(prompt, params)
    if deployment.provider == "bedrock":
        body = bedrock.call(deployment.model_id, fmt.api, request, retry)
    else:
        body = openai_compat.call(deployment, fmt.api, request, retry)
    completion = fmt.read_response(body)
    trimmed = truncate_at_stop(completion.text, params.stop)
    if trimmed != completion.text:  # a stop the family was not sent, or did not honour
        completion = replace(completion, text=trimmed, stop_reason="stop_sequence")
    return completion
