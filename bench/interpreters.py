"""Other Pythons on this machine, for bundles built here for another runtime: where `cdk synth` looks, then pyenv's.

A synth finds an interpreter of the runtime's version as `infra/bytecode.py` says (PATH, uv).
A developer machine often has more versions than PATH shows: pyenv installs each under
`$PYENV_ROOT/versions/` and its shims run only the selected ones. The benchmark and the tests
look there too, then hand the interpreter to the synth the way a user would (on PATH, or as
`bytecode_python`).
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.bytecode import RUNTIME_MAGIC_NUMBERS, BytecodeCompiler, BytecodeError, find_bytecode_compiler


def _pyenv_candidates(version: str) -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    # Newest patch release first: 3.13.10 before 3.13.9.
    installs = sorted(
        (root / "versions").glob(f"{version}.*"),
        key=lambda path: [int(part) if part.isdigit() else -1 for part in path.name.split(".")],
        reverse=True,
    )
    return [install / "bin" / f"python{version}" for install in installs]


def find_python(version: str) -> BytecodeCompiler | None:
    """A CPython `version` (final release) installed here: as a synth finds one, else among pyenv's versions.

    Nothing is installed to find it (no `uv python install`).
    """
    found = find_bytecode_compiler(version, provision=False).compiler
    if found is not None:
        return found
    for candidate in _pyenv_candidates(version):
        if not candidate.is_file():
            continue
        try:
            return find_bytecode_compiler(version, explicit=str(candidate)).compiler
        except BytecodeError:
            continue
    return None


def other_runtime_pythons(host_version: str) -> list[BytecodeCompiler]:
    """Interpreters of the Lambda runtimes' versions other than `host_version` that this machine has."""
    found = [find_python(version) for version in RUNTIME_MAGIC_NUMBERS if version != host_version]
    return [compiler for compiler in found if compiler is not None]
