"""The CLI's deployment commands against the local stack's registry table: create a version
from a file, route, roll back, list; refusals are messages, not tracebacks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from chalicelib.cli import main
from tests.conftest import ECHO_ARN

SPEC = {
    "provider": "bedrock",
    "model_id": ECHO_ARN.format("converse"),
    "request_format": "converse",
}


def test_create_route_rollback_list(
    stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "version.json"
    spec.write_text(json.dumps(SPEC))
    for number in (1, 2):
        assert main(["deployments", "create-version", name, "--file", str(spec)]) == 0
        assert json.loads(capsys.readouterr().out)["version"] == number
    assert main(["route", name, "1=90", "2=10", "--expected-revision", "1"]) == 0
    routed = json.loads(capsys.readouterr().out)
    assert routed["routes"] == [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]
    assert main(["route", name, "2=100", "--expected-revision", "1"]) == 1
    assert "conflict" in capsys.readouterr().out
    assert main(["route", name, "1=50", "2=40"]) == 1
    assert "weights must sum to 100" in capsys.readouterr().out
    assert main(["rollback", name]) == 0
    assert json.loads(capsys.readouterr().out)["routes"] == [{"version": 1, "weight": 100}]
    assert main(["deployments", "list"]) == 0
    assert f"{name}  v1=100  (revision 3)" in capsys.readouterr().out
    assert main(["deployments", "show", name]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    history = stack.runtime.registry_store.history(name)
    assert [(h.reason, h.caller) for h in history] == [("routing", "cli"), ("rollback", "cli")]
    spec.write_text("{not json")
    assert main(["deployments", "create-version", name, "--file", str(spec)]) == 1


def test_cli_evaluate_reads_versions_from_the_registry_table(stack: Any) -> None:
    from chalicelib.config.settings import get_settings
    from chalicelib.errors import ConfigurationError
    from chalicelib.evaluation.commands import _deployments

    chosen = _deployments(get_settings(), ["sentiment-converse@1", "sentiment-converse"])
    assert [d.name for d in chosen] == ["sentiment-converse@1", "sentiment-converse"]
    with pytest.raises(ConfigurationError):
        _deployments(get_settings(), ["sentiment-converse@99"])


def test_promote_forced_or_by_evaluation(stack: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.deployments import service
    from chalicelib.deployments.models import VersionRequest

    name = f"cli-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        service.create_version(
            stack.runtime.registry_store, None, name, VersionRequest.model_validate(SPEC)
        )
    assert main(["promote", name, "2", "--evaluation", "0" * 32]) == 1
    assert "error (not_found)" in capsys.readouterr().out
    assert main(["promote", name, "1", "--force", "again"]) == 1
    assert "error (invalid_state)" in capsys.readouterr().out
    assert main(["promote", name, "2", "--force", "the demo"]) == 0
    assert json.loads(capsys.readouterr().out)["routes"] == [{"version": 2, "weight": 100}]
    [entry] = stack.runtime.registry_store.history(name)
    assert (entry.reason, entry.caller) == ("promote 2 (forced): the demo", "cli")
    with pytest.raises(SystemExit):  # one of --evaluation or --force
        main(["promote", name, "1"])
