"""What Lambda's managed Python runtime puts in front of a function, here: an interpreter and `awslambdaric`.

The asset's process runs an interpreter of the function's Python version (the asset's wheels
and bytecode are built for it) with `awslambdaric`, the Lambda Runtime Interface Client that
AWS's Python runtime runs. The client never enters the Lambda bundle: it is installed, pinned
(`sandbox/requirements.txt`), for the function's Python and this machine's platform into a
cache directory, once, and the process finds it on its path after the asset, as Lambda's own
runtime directory comes after the task root.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from infra.bytecode import installed_interpreters
from infra.wheels import WheelInstallError, cached_tree, install_wheels

REQUIREMENTS = Path(__file__).with_name("requirements.txt")

# Lambda's architectures, by what `platform.machine()` reports.
_MACHINE_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


class RuntimeClientError(Exception):
    """The function cannot run on this machine; the message says why and what to do."""


def host_architecture() -> str:
    """This machine's architecture as Lambda names it (`x86_64`, `arm64`)."""
    machine = platform.machine().lower()
    if machine not in _MACHINE_ARCHITECTURES:
        raise RuntimeClientError(f"this machine is {machine}; Lambda functions run on x86_64 or arm64")
    return _MACHINE_ARCHITECTURES[machine]


def host_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def check_architecture(architecture: str) -> None:
    host = host_architecture()
    if architecture != host:
        raise RuntimeClientError(
            f"the function is built for {architecture} and this machine is {host}: the asset's compiled wheels "
            f"cannot load here. Synthesize for this machine (-c architecture={host}; `make sandbox` does by default)."
        )


def _version_of(interpreter: Path) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603 - the interpreter we are about to use, asked its version
            [str(interpreter), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _candidates(python_version: str) -> list[Path]:
    """Where an interpreter of `python_version` may be: this one's base, PATH, pyenv's versions."""
    found = []
    if host_python_version() == python_version:
        # The base interpreter, not the venv's: the asset process sees no site-packages.
        found.append(Path(sys.base_prefix) / "bin" / f"python{python_version}")
    # The same places the bytecode search looks (infra/bytecode.py): PATH's, then pyenv's.
    found += [executable for executable, _ in installed_interpreters(python_version)]
    return found


def find_interpreter(python_version: str, *, explicit: Path | None = None) -> Path:
    """An interpreter of `python_version` (e.g. `3.12`), or RuntimeClientError saying how to get one."""
    if explicit is not None:
        version = _version_of(explicit)
        if version != python_version:
            raise RuntimeClientError(
                f"{explicit} is Python {version or '(not runnable)'}, and the function's runtime is "
                f"python{python_version}"
            )
        return explicit
    for candidate in _candidates(python_version):
        if candidate.is_file() and _version_of(candidate) == python_version:
            return candidate
    raise RuntimeClientError(
        f"the function's runtime is python{python_version} and this machine has no Python {python_version} "
        f"interpreter (looked for python{python_version} on PATH and under pyenv's versions). Install one "
        f"(your distribution's python{python_version} package, or `pyenv install {python_version}`) and pass its "
        f"path with --python, or synthesize for this machine's Python (-c runtime=python{host_python_version()}; "
        "`make sandbox` does by default)."
    )


def install_runtime_client(*, interpreter: Path, python_version: str, architecture: str, cache_dir: Path) -> Path:
    """The directory holding `awslambdaric` for this Python and platform; installed on the first call."""
    requirements = REQUIREMENTS.read_bytes()
    key = hashlib.sha256(f"{python_version}\0{architecture}\0".encode() + requirements).hexdigest()[:16]

    def build(building: Path) -> None:
        try:
            # For Lambda's Linux, as the bundle's wheels are: the runtime client is what Lambda runs there.
            install_wheels(REQUIREMENTS, python_version=python_version, architecture=architecture, into=building)
        except WheelInstallError as error:
            raise RuntimeClientError(f"{error}\n(the first run needs PyPI; later ones use {cache_dir})") from None
        shutil.rmtree(building / "bin", ignore_errors=True)
        # Bytecode by the interpreter that will run it, as Lambda's runtime ships its own.
        subprocess.run(  # noqa: S603 - fixed argv
            [str(interpreter), "-m", "compileall", "-q", str(building)], capture_output=True, check=True
        )

    return cached_tree(cache_dir / f"awslambdaric-py{python_version}-{architecture}-{key}", build)
