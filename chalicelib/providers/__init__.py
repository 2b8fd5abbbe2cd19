"""Model providers behind one `complete()`: format the request, call, read the answer."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.config.registry import Deployment
from chalicelib.formats import Completion, InferenceParams, Prompt, get_format, truncate_at_stop
from chalicelib.providers import bedrock, openai_compat


def complete(deployment: Deployment, prompt: Prompt, params: InferenceParams) -> Completion:
    fmt = get_format(deployment.provider, deployment.request_format)
    request = fmt.build_request(prompt, params)
    if deployment.provider == "bedrock":
        body = bedrock.call(deployment.model_id, fmt.api, request)
    else:
        body = openai_compat.call(deployment, fmt.api, request)
    completion = fmt.read_response(body)
    trimmed = truncate_at_stop(completion.text, params.stop)
    if trimmed != completion.text:  # a stop the family was not sent, or did not honour
        completion = replace(completion, text=trimmed, stop_reason="stop_sequence")
    return completion
