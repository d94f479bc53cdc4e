"""Other Pythons on this machine, for bundles built here for another runtime: where `cdk synth` looks.

A synth finds an interpreter of the runtime's version as `infra/bytecode.py` says: PATH,
pyenv's installs, uv. The benchmark and the tests use the same search, without installing
anything, then hand the interpreter to the synth the way a user would (on PATH, or as
`bytecode_python`).
"""

from __future__ import annotations

from infra.bytecode import RUNTIME_MAGIC_NUMBERS, BytecodeCompiler, find_bytecode_compiler


def find_python(version: str) -> BytecodeCompiler | None:
    """A CPython `version` (final release) installed here, as a synth finds one; nothing is installed to find it."""
    return find_bytecode_compiler(version, provision=False).compiler


def other_runtime_pythons(host_version: str) -> list[BytecodeCompiler]:
    """Interpreters of the Lambda runtimes' versions other than `host_version` that this machine has."""
    found = [find_python(version) for version in RUNTIME_MAGIC_NUMBERS if version != host_version]
    return [compiler for compiler in found if compiler is not None]
