"""OpenAI requests mapped onto the one invoke path: each prompt (or conversation) becomes one
recorded invocation in the deployment's trained format, within the deployment's bounds."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.config.registry import Deployment
from chalicelib.deployments.resolve import RegistryView, Resolved
from chalicelib.errors import InvalidRequest, NotFound, PayloadTooLarge
from chalicelib.formats import InferenceParams, Message, Prompt
from chalicelib.openai_api.models import ChatCompletionRequest, CompletionRequest, GenerationRequest
from chalicelib.openai_api.responses import chat_completion_body, completion_body
from chalicelib.serving.invoke import Invocation, InvocationContext, invoke_prompt
from chalicelib.serving.prompting import render_prompt

# Choices of one `prompt` list answered at once: enough to hide model latency for lm-eval's
# --batch_size, few enough that one request cannot take a deployment's whole capacity.
CHOICE_CONCURRENCY = 4
# Bedrock's bodies take temperature in [0, 1]; OpenAI's own API takes up to 2.
_MAX_TEMPERATURE = {"bedrock": 1.0, "openai": 2.0}


def resolve_deployment(
    registry: RegistryView, model: str, routing_key: str | None = None
) -> Resolved:
    """`model` names a deployment (its split chooses the version, sticky by `routing_key`) or
    one version of it (`alias@version`, CONTRACT section 7)."""
    try:
        return registry.resolve(model, routing_key)
    except NotFound as exc:
        raise NotFound(exc.message, details=[{"field": "model", "reason": "unknown"}]) from None


def generation_params(deployment: Deployment, request: GenerationRequest) -> InferenceParams:
    """The request's sampling within the deployment's bounds: max tokens clamped (never an
    error: lm-eval asks for 256 by default), the deployment's stops kept (they are part of the
    trained format) and the request's added, fields a family cannot take left out."""
    unsupported = request.unsupported()
    if unsupported is not None:
        field, why = unsupported
        raise InvalidRequest(why, details=[{"field": field, "reason": why}])
    spec = deployment.inference
    requested = request.requested_max_tokens()
    temperature = spec.temperature if request.temperature is None else request.temperature
    stops = dict.fromkeys([*spec.stop, *(request.stops() or ())])
    return InferenceParams(
        max_tokens=min(requested, spec.max_tokens) if requested else spec.max_tokens,
        temperature=min(temperature, _MAX_TEMPERATURE[deployment.provider]),
        top_p=spec.top_p if request.top_p is None else request.top_p,
        stop=tuple(stops),
        seed=request.seed if deployment.provider == "openai" else None,
    )


def chat_prompt(deployment: Deployment, request: ChatCompletionRequest) -> Prompt:
    """System (and developer) messages become the system prompt, replacing the deployment's;
    the other turns keep their order and the last user turn gets the template and separator."""
    system = [m.text() for m in request.messages if m.role in ("system", "developer")]
    turns = tuple(
        Message("user" if m.role == "user" else "assistant", m.text())
        for m in request.messages
        if m.role in ("user", "assistant")
    )
    return render_prompt(
        deployment.prompt, messages=turns, system="\n\n".join(system) if system else None
    )


def _check_length(prompt: Prompt, ctx: InvocationContext) -> None:
    length = len(prompt.system or "") + sum(len(m.content) for m in prompt.messages)
    if length > ctx.max_input_chars:
        raise PayloadTooLarge(
            f"The input is longer than the limit of {ctx.max_input_chars} characters."
        )


def answer_all(
    deployment: Deployment,
    prompts: Sequence[Prompt],
    params: InferenceParams,
    ctx: InvocationContext,
    metadata: dict[str, str],
    version: int | None = None,
    shadows: tuple[int, ...] = (),
) -> list[Invocation]:
    """One recorded invocation per prompt, in order; the first failure (in order) is raised."""
    for prompt in prompts:
        _check_length(prompt, ctx)
    if len(prompts) == 1:
        only = invoke_prompt(
            deployment, prompts[0], params, ctx, metadata, version=version, shadows=shadows
        )
        return [only]
    with ThreadPoolExecutor(max_workers=min(CHOICE_CONCURRENCY, len(prompts))) as pool:
        futures = [
            pool.submit(
                invoke_prompt,
                deployment,
                prompt,
                params,
                ctx,
                metadata,
                version=version,
                shadows=shadows,
            )
            for prompt in prompts
        ]
        return [future.result() for future in futures]


def _metadata(request: GenerationRequest) -> dict[str, str]:
    return {"user": request.user} if request.user else {}


def chat_completion(
    registry: RegistryView, request: ChatCompletionRequest, ctx: InvocationContext
) -> dict[str, Any]:
    """OpenAI's `user` is the routing key: one end user stays on one version of a split."""
    resolved = resolve_deployment(registry, request.model, request.user)
    deployment = resolved.deployment
    params = generation_params(deployment, request)
    prompt = chat_prompt(deployment, request)
    [answer] = answer_all(
        deployment,
        [prompt],
        params,
        ctx,
        _metadata(request),
        version=resolved.version,
        shadows=resolved.copies,
    )
    return chat_completion_body(deployment.name, answer)


def completion(
    registry: RegistryView, request: CompletionRequest, ctx: InvocationContext
) -> dict[str, Any]:
    resolved = resolve_deployment(registry, request.model, request.user)
    deployment = resolved.deployment
    params = generation_params(deployment, request)
    prompts = [render_prompt(deployment.prompt, input_text=p) for p in request.prompts()]
    answers = answer_all(
        deployment, prompts, params, ctx, _metadata(request), resolved.version, resolved.copies
    )
    return completion_body(deployment.name, answers)
