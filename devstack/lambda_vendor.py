"""Fill Chalice's `vendor/` folder with requirements-vendor.txt, built for Lambda, no dependencies.

Chalice resolves requirements.txt with every dependency, and aws-xray-sdk depends on botocore:
packaged that way the bundle grows by 13 MB with a copy of what the Lambda runtime provides.
Chalice copies `vendor/` into the bundle as is, so these wheels go there instead, downloaded
for Lambda's platform and this interpreter's Python version (the runtime Chalice picks).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
PLATFORM = "manylinux2014_x86_64"  # Chalice's default Lambda architecture


def vendor_lambda_dependencies(project: Path = PROJECT_DIR) -> Path:
    """Populate `project/vendor` (skipped when it already matches the requirements)."""
    requirements = project / "requirements-vendor.txt"
    vendor = project / "vendor"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    wanted = hashlib.sha256(requirements.read_bytes() + f"{PLATFORM} {python}".encode()).hexdigest()
    stamp = vendor / ".vendored"
    if stamp.exists() and stamp.read_text() == wanted:
        return vendor
    shutil.rmtree(vendor, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--only-binary=:all:", "--platform", PLATFORM, "--implementation", "cp",
        "--python-version", python, "--target", str(vendor), "-r", str(requirements),
    ]
    subprocess.run(command, check=True)  # noqa: S603 (fixed argv, our own interpreter)
    for metadata in vendor.glob("*.dist-info"):
        shutil.rmtree(metadata)  # not needed at run time
    stamp.write_text(wanted)
    return vendor


if __name__ == "__main__":
    print(f"vendored into {vendor_lambda_dependencies()}")
