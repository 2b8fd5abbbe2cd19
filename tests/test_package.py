"""The Lambda bundle: within the size budget, and it imports and serves on a clean interpreter
that sees only the bundle and what the Lambda runtime provides (boto3 and its dependencies)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from devstack.lambda_vendor import vendor_lambda_dependencies
from tests.conftest import run_python_json
from tests.test_infra import ROOT, _offline_env, _tool
from tests.test_tracing import TRACE_ID

BUDGET_BYTES = 15 * 1024 * 1024
# What the Lambda Python runtime ships besides the standard library.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six.py")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vendor_lambda_dependencies()  # as `make package` does
    out = tmp_path_factory.mktemp("bundle") / "out"
    result = subprocess.run(
        [_tool("chalice"), "package", "--stage", "prod", str(out)],
        cwd=ROOT,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "deployment.zip"


def test_bundle_within_budget_and_lean(bundle: Path) -> None:
    size = bundle.stat().st_size
    assert size <= BUDGET_BYTES, f"{size / 2**20:.1f} MiB > 15 MiB"
    names = zipfile.ZipFile(bundle).namelist()
    top = {name.split("/")[0] for name in names}
    for heavy in ("numpy", "pandas", "sklearn", "torch", "boto3", "botocore", "moto", "emulator"):
        assert heavy not in top, heavy
    assert "chalicelib/registries/prod.json" in names
    assert "chalicelib/static/feedback.js" in names
    assert any(n.startswith("pydantic_core/") and n.endswith("-linux-gnu.so") for n in names)
    assert "aws_xray_sdk/core/recorder.py" in names and any(n.startswith("wrapt/") for n in names)


def test_bundle_imports_and_serves_on_a_clean_interpreter(bundle: Path, tmp_path: Path) -> None:
    task = tmp_path / "task"
    zipfile.ZipFile(bundle).extractall(task)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    site = Path(__import__("botocore").__file__).resolve().parent.parent
    for name in RUNTIME_PACKAGES:
        (runtime / name).symlink_to(site / name)
    event = {
        "resource": "/health",
        "path": "/health",
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/health", "httpMethod": "GET", "stage": "prod"},
        "body": None,
        "isBase64Encoded": False,
    }
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {**config["environment_variables"], **config["stages"]["prod"]["environment_variables"]}
    env |= {k: v for k, v in _offline_env().items() if k.startswith("AWS_")}
    # As Lambda with active tracing: the X-Ray SDK and wrapt must load from the bundle too.
    env |= {
        "LAMBDA_TASK_ROOT": str(task),
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9",
    }
    code = (
        "import json, sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import app; "
        "response = app.app(json.loads(sys.argv[3]), None); "
        "response['xray'] = sys.modules['aws_xray_sdk'].__file__; print(json.dumps(response))"
    )
    args = ["-I", "-S", "-c", code, str(task), str(runtime), json.dumps(event)]
    response = run_python_json(args, env, cwd=task)
    body = json.loads(response["body"])
    # It serves; AWS itself is out of reach here, which /health reports as degraded.
    assert (response["statusCode"], body["status"]) in ((200, "ok"), (503, "degraded")), body
    assert body["stage"] == "prod"
    assert response["xray"].startswith(str(task))
