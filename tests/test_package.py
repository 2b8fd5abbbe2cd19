"""The Lambda bundle: within the size budget, and it imports and serves on a clean interpreter
that sees only the bundle and what the Lambda runtime provides (boto3 and its dependencies),
from a read-only directory, without compiling any of its modules (bytecode ships with it)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devstack.lambda_bytecode import add_bytecode, runtime_of
from devstack.lambda_task import LAMBDA_FLAGS, runtime_dir, set_writable, unpack_read_only
from devstack.lambda_vendor import vendor_lambda_dependencies
from tests.conftest import run_python_json
from tests.test_infra import ROOT, _offline_env, _tool
from tests.test_tracing import TRACE_ID

BUDGET_BYTES = 15 * 1024 * 1024
# Run in the child before anything from the bundle loads: every source compilation is recorded
# (SourceLoader.source_to_code is what an import calls when no usable .pyc exists).
CHILD = """
import json, os, sys
import importlib._bootstrap_external as loaders
task, runtime, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
compiled = []
source_to_code = loaders.SourceLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    compiled.append(path)
    return source_to_code(self, data, path, *args, **kwargs)
loaders.SourceLoader.source_to_code = counting
sys.path[:0] = [task, runtime]
import app
response = app.app(event, None)
files = {m: getattr(m, "__file__", None) or "" for m in list(sys.modules.values())}
ours = [m for m, file in files.items() if file.startswith(task)]
sources = [m for m in ours if m.__file__.endswith(".py")]
response["compiled"] = [p for p in compiled if p.startswith(task)]
response["modules"] = len(sources)
response["without_pyc"] = [m.__name__ for m in sources if not m.__spec__.cached
                           or not os.path.isfile(m.__spec__.cached)]
response["xray"] = sys.modules["aws_xray_sdk"].__file__
response["flags"] = [sys.flags.isolated, sys.flags.no_site, sys.flags.dont_write_bytecode]
import gc
from chalicelib.api import models as api_models
response["frozen"] = gc.get_freeze_count()
response["gc"] = gc.isenabled()
response["built"] = [n for n in ("ModelSummary", "EvaluationStatus", "InvokeResponse")
                     if getattr(api_models, n).__pydantic_complete__]
print(json.dumps(response))
"""


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
    add_bytecode(out / "deployment.zip", runtime_of(out / "sam.json"))  # as `make package` does
    return out / "deployment.zip"


def test_bundle_within_budget_and_lean(bundle: Path) -> None:
    size = bundle.stat().st_size
    assert size <= BUDGET_BYTES, f"{size / 2**20:.1f} MiB > 15 MiB"
    names = zipfile.ZipFile(bundle).namelist()
    top = {name.split("/")[0] for name in names}
    for heavy in ("numpy", "pandas", "sklearn", "torch", "boto3", "botocore", "moto", "emulator"):
        assert heavy not in top, heavy
    assert "chalicelib/registries/prod.json" in names
    assert "chalicelib/feedback/static/feedback.js" in names
    assert any(n.startswith("pydantic_core/") and n.endswith("-linux-gnu.so") for n in names)
    assert "aws_xray_sdk/core/recorder.py" in names and any(n.startswith("wrapt/") for n in names)


def test_bundle_bytecode_matches_the_runtime(bundle: Path) -> None:
    """Every module has its .pyc, for the Python of the template's Runtime (the magic number
    changes with each minor version), hash-based and unchecked so timestamps do not matter."""
    template = bundle.parent / "sam.json"
    assert runtime_of(template) == f"python{sys.version_info.major}.{sys.version_info.minor}"
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        sources = [n for n in names if n.endswith(".py")]
        pycs = [n for n in names if n.endswith(".pyc")]
        assert len(sources) > 600 and len(pycs) == len(sources)
        tag = sys.implementation.cache_tag
        for source in sources:
            folder, _, file = source.rpartition("/")
            pyc = f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc".lstrip("/")
            assert pyc in names, pyc
        for pyc in pycs:
            header = zf.open(pyc).read(8)
            assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
            assert int.from_bytes(header[4:8], "little") == 0b01, pyc  # unchecked hash


def test_bundle_imports_and_serves_on_a_clean_interpreter(bundle: Path, tmp_path: Path) -> None:
    """Read-only /var/task, bytecode writing off: the app serves and no module compiles."""
    task = unpack_read_only(bundle, tmp_path / "task")
    runtime = runtime_dir(tmp_path)
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
    args = [*LAMBDA_FLAGS, "-c", CHILD, str(task), str(runtime), json.dumps(event)]
    try:
        response = run_python_json(args, env, cwd=task)
    finally:
        set_writable(task, writable=True)  # so tmp_path can be cleaned up
    body = json.loads(response["body"])
    # It serves; AWS itself is out of reach here, which /health reports as degraded.
    assert (response["statusCode"], body["status"]) in ((200, "ok"), (503, "degraded")), body
    assert body["stage"] == "prod"
    assert response["xray"].startswith(str(task))
    assert response["flags"] == [1, 1, 1]
    assert response["modules"] > 150  # app, chalicelib, pydantic, powertools, X-Ray SDK...
    assert response["compiled"] == []
    assert response["without_pyc"] == []
    # The collector is off during import, then frozen and back on; models off the invoke path
    # are not built yet.
    assert response["frozen"] > 10_000 and response["gc"]
    assert response["built"] == ["InvokeResponse"]
