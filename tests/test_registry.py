"""The deployments registry: a bad file stops the app naming the deployment and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.config.registry import load_registry
from chalicelib.errors import ConfigurationError, NotFound

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "name": "m",
    "provider": "bedrock",
    "model_id": "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefghij12",
    "request_format": "converse",
}


def write(tmp_path: Path, deployments: list[dict]) -> Path:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"deployments": deployments}))
    return path


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_shipped_registries_are_valid(stage: str) -> None:
    registry = load_registry(ROOT / "chalicelib" / "registries" / f"{stage}.json")
    assert registry.deployments


def test_lookup(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, [GOOD]))
    assert registry.get("m").request_format == "converse"
    with pytest.raises(NotFound):
        registry.get("other")


def test_one_lookup_by_name_for_routes_jobs_and_cli(tmp_path: Path) -> None:
    """`select` keeps the order asked for; an unknown name is a NotFound naming its place (the
    jobs API's 404 `details`, the CLI's message); `get` is the same lookup of one name."""
    registry = load_registry(write(tmp_path, [GOOD, {**GOOD, "name": "n"}]))
    assert [d.name for d in registry.select(["n", "m"])] == ["n", "m"]
    with pytest.raises(NotFound) as caught:
        registry.select(["m", "x"])
    assert caught.value.message == "No deployment named 'x'."
    assert caught.value.details == [{"field": "models.1", "reason": "unknown model 'x'"}]
    with pytest.raises(NotFound) as caught:
        registry.get("x")
    assert (caught.value.message, caught.value.details) == ("No deployment named 'x'.", None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"request_format": "chat"}, "request_format"),
        ({"model_id": "not an arn"}, "model_id"),
        ({"inference": {"max_tokens": 0}}, "inference.max_tokens"),
        ({"inference": {"temperature": 3}}, "inference.temperature"),
        ({"output": {"type": "label"}}, "output"),
        ({"output": {"type": "label", "labels": ["a"], "values": {"b": 1}}}, "output"),
        ({"prompt": {"template": "no placeholder"}}, "prompt"),
        ({"unknown": 1}, "unknown"),
        ({"provider": "azure"}, "provider"),
        ({"base_url": "https://x"}, "(deployment)"),
    ],
)
def test_bad_deployment_names_deployment_and_field(
    tmp_path: Path, change: dict, field: str
) -> None:
    path = write(tmp_path, [GOOD, {**GOOD, "name": "broken", **change}])
    with pytest.raises(ConfigurationError) as raised:
        load_registry(path)
    message = str(raised.value)
    assert "deployment 'broken'" in message
    assert f"field {field}" in message


def test_openai_needs_base_url(tmp_path: Path) -> None:
    bad = {"name": "o", "provider": "openai", "model_id": "ft:x", "request_format": "completions"}
    with pytest.raises(ConfigurationError, match="base_url"):
        load_registry(write(tmp_path, [bad]))


def test_duplicate_names_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="used twice"):
        load_registry(write(tmp_path, [GOOD, GOOD]))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        load_registry(broken)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_registry(tmp_path / "missing.json")
