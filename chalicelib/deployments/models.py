"""Request bodies of the deployment routes (CONTRACT section 7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.api.models import RequestBody
from chalicelib.config.registry import DEPLOYMENT_NAME, Deployment

SourceValue = Annotated[str, Field(max_length=512)] | Annotated[int, Field(ge=0, le=2**53)]


class VersionRequest(Deployment):
    """A version's fields: a registry entry (its `name` optional, the path names the alias)
    plus where it came from (`source`, e.g. `{"tuning_job_id": …}`)."""

    name: str | None = Field(default=None, pattern=rf"^{DEPLOYMENT_NAME}$")  # type: ignore[assignment]
    source: dict[Annotated[str, Field(min_length=1, max_length=64)], SourceValue] = Field(
        default_factory=dict, max_length=10
    )


class RouteSpec(RequestBody):
    version: int = Field(ge=1)
    weight: int = Field(ge=0, le=100)


class RoutingRequest(RequestBody):
    routes: list[RouteSpec] = Field(min_length=1, max_length=20)
    shadow: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list, max_length=10)
    expected_revision: int = Field(ge=0)
    reason: str | None = Field(default=None, max_length=500)


class PromoteRequest(RequestBody):
    """At most one of `evaluation_id` (the gate decides) or `force_reason` (no gate; the
    reason goes to the history). Neither: the gate has no evaluation and rejects (409)."""

    version: int = Field(ge=1)
    evaluation_id: str | None = Field(default=None, min_length=1, max_length=64)
    force_reason: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_basis(self) -> PromoteRequest:
        if self.evaluation_id is not None and self.force_reason is not None:
            raise ValueError("give one of 'evaluation_id' or 'force_reason', not both")
        return self


# --- answers (the OpenAPI document's shapes) --------------------------------------------------


class _Answer(BaseModel):
    model_config = ConfigDict(defer_build=True)


class Route(_Answer):
    version: int
    weight: int


class AliasView(_Answer):
    name: str
    routes: list[Route]
    shadow: list[int]
    #: The largest-weight version: what a bare name means in an evaluation.
    champion: int
    revision: int
    latest_version: int
    updated_at: str


class VersionView(_Answer):
    """A version: its registry-entry fields (provider, model_id, request_format, prompt, …;
    never where a provider key lives) plus these."""

    model_config = ConfigDict(defer_build=True, extra="allow")

    name: str
    version: int
    created_at: str
    source: dict[str, Any]
    status: Literal["active", "retired"]


class DeploymentView(AliasView):
    versions: list[VersionView]


class DeploymentList(_Answer):
    deployments: list[AliasView]


class RoutingView(_Answer):
    routes: list[Route]
    shadow: list[int]


class HistoryEntryView(_Answer):
    revision: int
    at: str
    #: The routing before and after the change.
    from_: RoutingView = Field(alias="from")
    to: RoutingView
    reason: str
    #: The changing key's hash prefix.
    caller: str | None


class HistoryView(_Answer):
    name: str
    history: list[HistoryEntryView]


class CompareView(_Answer):
    """Per version served (and shadowed) in the window: invocations, errors, invalid rate,
    latency p50/p99, feedback; each other version `against_champion` (differences with the
    z-test's and Mann-Whitney U's p-values), shadow versions their agreement rate."""

    model_config = ConfigDict(defer_build=True, populate_by_name=True)

    name: str
    from_: str | None = Field(alias="from")
    to: str | None
    champion: int
    versions: list[dict[str, Any]]
