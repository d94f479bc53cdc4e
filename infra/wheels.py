"""Wheels for Lambda's Linux, installed into a directory by pip, without Docker.

The one place that knows how: the bundle's dependencies (`infra/bundling.py`), the
sandbox's runtime client and the bench's references are all installed this way, and the
installed trees are kept by `cached_tree`. No CDK import here, so tools that only need
wheels do not load the CDK.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# Lambda's architectures and the wheels their Linux runs.
PLATFORM_TAGS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


class WheelInstallError(Exception):
    """pip could not install the requirements for the platform; the message carries pip's own."""


def install_wheels(requirements: Path, *, python_version: str, architecture: str, into: Path) -> None:
    """Binary wheels that `requirements` resolve to for CPython `python_version` on Lambda's `architecture`."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
        "--no-compile",
        "--target",
        str(into),
        "--platform",
        PLATFORM_TAGS[architecture],
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "--requirement",
        str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv
    if result.returncode != 0:
        raise WheelInstallError(
            f"pip could not install {requirements} for Python {python_version} on {PLATFORM_TAGS[architecture]}:\n"
            f"{result.stderr.strip()}"
        )


def cached_tree(directory: Path, build: Callable[[Path], None]) -> Path:
    """`directory`, built by `build` on the first call and kept.

    `build` fills a temporary directory beside it, which is then renamed into place: a reader
    never sees a half-built tree, a failed build leaves nothing behind, and of two builds at
    once the second to finish finds the first one's tree and keeps it.
    """
    if directory.is_dir():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=directory.parent))
    try:
        build(building)
        try:
            building.rename(directory)
        except OSError:
            if not directory.is_dir():  # not a concurrent build finishing first
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return directory
