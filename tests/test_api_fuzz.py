"""The API against its own OpenAPI document: the document is current, and schemathesis sends at
least 1,000 generated requests to the running local API (chalice local over HTTP, moto,
emulator): no 5xx, and every response matches the document (status, content type, schema)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from chalicelib.api.openapi import document
from tests.conftest import API_KEY, ROOT

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "use_after_free",
        "ensure_resource_availability",
    ]
)


def test_docs_openapi_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(document())), (
        "regenerate with: python -m chalicelib.cli openapi"
    )


def test_every_route_is_documented(stack: Any) -> None:
    documented = {
        (path, method.upper()) for path, ops in document()["paths"].items() for method in ops
    }
    routed = {(path, method) for path, methods in stack.app.routes.items() for method in methods}
    assert routed == documented


def own_registry_table() -> str:
    """A registry table of the fuzzed server's own, seeded from the stack's registry file: the
    generated requests create versions and change routing (the `admin` routes), which must not
    reach the deployments the other tests invoke."""
    import uuid

    from chalicelib.config.registry import load_registry
    from chalicelib.config.settings import get_settings
    from chalicelib.deploy.bootstrap import ensure_table
    from chalicelib.deployments.seed import seed_registry
    from chalicelib.storage.registry import DynamoRegistryStore

    name = f"tunegate-test-registry-fuzz-{uuid.uuid4().hex[:8]}"
    ensure_table(name, ["name", "sk"])
    models_file = get_settings().models_file
    list(seed_registry(DynamoRegistryStore(name), load_registry(models_file), models_file))
    return name


def test_schemathesis_against_the_running_api(local_stack: Any, tmp_path: Path) -> None:
    from devstack import serve_api

    registry = {"REGISTRY_TABLE": own_registry_table()}
    with serve_api(extra_env=registry, log=tmp_path / "api.log") as url:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{url}/openapi.json",
                "--url",
                url,
                "--header",
                f"x-api-key: {API_KEY}",
                "--checks",
                CHECKS,
                "--max-examples",
                "60",
                "--seed",
                "20261121",
                # One worker: hypothesis calls ast.parse, which on CPython 3.11.7 can fail with
                # "AST constructor recursion depth mismatch" when two threads parse at once.
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--request-timeout",
                "20",
                "--no-color",
                "--report",
                "junit",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    output = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", output)
    assert generated, output[-5000:]
    assert int(generated.group(1)) >= 1000, output[-3000:]
    assert result.returncode == 0, output[-8000:]
