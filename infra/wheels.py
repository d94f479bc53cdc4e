"""Wheels for Lambda's Linux, installed into a directory by pip, without Docker.

The one place that knows how: the bundle's dependencies (`infra/bundling.py`), the
sandbox's runtime client and the bench's references are all installed this way, and the
installed trees are kept by `cached_tree`. No CDK import here, so tools that only need
wheels do not load the CDK.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# Lambda's architectures, by the machine name wheel tags use.
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}

# The glibc each Python runtime's Linux has (docs/aws-facts.md, row "glibc per runtime"): Lambda's
# runtimes table puts python3.11 on Amazon Linux 2 and python3.12 and later on Amazon Linux 2023;
# AL2 ships glibc 2.26 and AL2023 glibc 2.34 ("Comparing AL2 and AL2023"; AL2023's "Core
# toolchain packages"). A runtime newer than the table here is taken to be on AL2023.
# docs/aws-facts.md, row "glibc per runtime"
_AMAZON_LINUX_2 = ("Amazon Linux 2", (2, 26))
# docs/aws-facts.md, row "glibc per runtime"
_AMAZON_LINUX_2023 = ("Amazon Linux 2023", (2, 34))
_RUNTIME_LINUX = {"3.11": _AMAZON_LINUX_2}

# manylinux2014 is glibc 2.17 (PEP 599), the oldest tag a wheel for aarch64 can carry.
_OLDEST_GLIBC_MINOR = 17


def runtime_linux(python_version: str) -> tuple[str, tuple[int, int]]:
    """The Linux, and its glibc version, under Lambda's Python `python_version` runtime."""
    return _RUNTIME_LINUX.get(python_version, _AMAZON_LINUX_2023)


def platform_tags(python_version: str, architecture: str) -> list[str]:
    """Every manylinux tag the runtime's glibc loads, newest first.

    pip expands the legacy `manylinux2014` to 2010 and 1 but never a `manylinux_2_x` (PEP 600)
    tag to the older ones, so each is listed.
    """
    machine = MACHINES[architecture]
    _, (_, minor) = runtime_linux(python_version)
    tags = [f"manylinux_2_{m}_{machine}" for m in range(minor, _OLDEST_GLIBC_MINOR - 1, -1)]
    return [*tags, f"manylinux2014_{machine}"]


class WheelInstallError(Exception):
    """pip could not install the requirements for the platform; the message carries pip's own."""


class NoLoadableWheel(WheelInstallError):
    """A requirement has no wheel the runtime's glibc loads; the message is one line naming it and the runtime."""


_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")


def install_wheels(requirements: Path, *, python_version: str, architecture: str, into: Path) -> None:
    """Binary wheels that `requirements` resolve to for CPython `python_version` on Lambda's `architecture`.

    Only wheels the runtime's glibc loads: pip never picks one with a newer manylinux tag.
    """
    tags = platform_tags(python_version, architecture)
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
        *(argument for tag in tags for argument in ("--platform", tag)),
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
        missing = _NO_MATCH.search(result.stderr)
        linux, (major, minor) = runtime_linux(python_version)
        if missing is not None:
            raise NoLoadableWheel(
                f"{missing[1]}: no wheel that runtime python{python_version} on {architecture} can load ({linux}, "
                f"glibc {major}.{minor}: tags up to {tags[0]}) is on the index; pin a version with such a wheel, "
                "or choose a newer runtime"
            )
        raise WheelInstallError(
            f"pip could not install {requirements} for Python {python_version} on {tags[0]} or older:\n"
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
