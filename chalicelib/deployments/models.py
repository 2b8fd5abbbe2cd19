"""Request bodies of the deployment routes (CONTRACT section 7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
