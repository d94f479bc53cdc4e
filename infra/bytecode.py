"""The bundle's bytecode: written by an interpreter of the runtime's version, whatever Python runs the synth.

A `.pyc` is readable only by the Python version that wrote it, so the bundle of a python3.13
function needs a Python 3.13 to compile it. Without bytecode every cold start compiles the
whole framework from source first: about 2.4 times the init with it (`make bench`), and Lambda
bills init. `find_bytecode_compiler` looks for such an interpreter, in this order:

1. the one the `bytecode_python` context key names (a mistake there stops the synth);
2. the interpreter running the synth, when it is the runtime's version;
3. `python3.X` on PATH, run to see that it really is one (a pyenv shim of a version that is
   installed but not selected is on PATH and fails: "pyenv: python3.12: command not found"),
   then pyenv's installs of 3.X under `$PYENV_ROOT/versions/`, newest first, which run anyway
   (`installed_interpreters`: the list `make sandbox` and the benchmark look through too);
4. `uv python find 3.X`, then `uv python install 3.X` and look again, where uv is installed
   (the download needs the network; without it, uv says so and the search goes on).

Each candidate must be CPython of the runtime's version, a final release, whose magic number
(the first bytes of every `.pyc`) is the one Lambda's runtime of that version reads. What the
compiler writes is checked against that magic number before it ships.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The magic number of each Lambda Python runtime's interpreter. A minor version's final
# releases keep one; its pre-releases do not (3.14's changed until its third release candidate).
RUNTIME_MAGIC_NUMBERS = {"3.11": 3495, "3.12": 3531, "3.13": 3571, "3.14": 3627}

# The bytecode header's flags: hash-based, never checked against the source (PEP 552).
UNCHECKED_HASH_FLAGS = 0b01

# The context key naming an interpreter; the messages below tell users to set it.
EXPLICIT_SETTING = "bytecode_python"

# Starting a Python is well under a second; installing one downloads some 30 MB.
_PROBE_TIMEOUT_SECONDS = 30
_UV_FIND_TIMEOUT_SECONDS = 60
_UV_INSTALL_TIMEOUT_SECONDS = 600

# Run by each candidate interpreter: what it is, as JSON on one line.
_DESCRIBE = (
    "import importlib.util, json, sys; print(json.dumps({"
    "'version': '%d.%d' % sys.version_info[:2], 'release': sys.version_info.releaselevel, "
    "'implementation': sys.implementation.name, 'cache_tag': sys.implementation.cache_tag, "
    "'magic': importlib.util.MAGIC_NUMBER.hex(), 'executable': sys.executable}))"
)


class BytecodeError(Exception):
    """Bytecode could not be written or does not match the runtime; the message says which file or setting."""


@dataclass(frozen=True)
class BytecodeCompiler:
    """An interpreter of the runtime's version: it writes the bundle's bytecode."""

    executable: str
    version: str  # "3.13"
    cache_tag: str  # "cpython-313": the infix of its .pyc names
    magic_number: bytes  # the first four bytes of every .pyc it writes
    found_by: str  # where the search found it, for messages

    @property
    def bytecode_format(self) -> str:
        """What the bytecode depends on: the interpreter's version, never the host or the path."""
        return f"{self.cache_tag} magic={self.magic_number.hex()}"


@dataclass(frozen=True)
class CompilerSearch:
    """The search's outcome: the compiler, or None and where it looked."""

    python_version: str
    compiler: BytecodeCompiler | None
    attempts: tuple[str, ...]  # one line per place looked, with what was there

    def fix(self) -> str:
        """The command that gives the next synth an interpreter to compile with."""
        return (
            f"`uv python install {self.python_version}` (or put python{self.python_version} on PATH, "
            f"or -c {EXPLICIT_SETTING}=<path to a Python {self.python_version}>)"
        )


def _expected_magic(version: str) -> bytes | None:
    number = RUNTIME_MAGIC_NUMBERS.get(version)
    return None if number is None else number.to_bytes(2, "little") + b"\r\n"


def _judge(description: dict[str, str], version: str, found_by: str) -> BytecodeCompiler | str:
    """The compiler a described interpreter is, or why it is not one for `version`."""
    if description["implementation"] != "cpython":
        return f"is {description['implementation']}, not CPython, which Lambda runs"
    if description["version"] != version:
        return f"is Python {description['version']}"
    if description["release"] != "final":
        return f"is a pre-release of Python {version} ({description['release']}), whose bytecode differs"
    magic = bytes.fromhex(description["magic"])
    expected = _expected_magic(version)
    if expected is not None and magic != expected:
        return f"writes bytecode with magic number {magic.hex()}, Lambda's Python {version} reads {expected.hex()}"
    return BytecodeCompiler(
        executable=description["executable"],
        version=version,
        cache_tag=description["cache_tag"],
        magic_number=magic,
        found_by=found_by,
    )


def _this_interpreter() -> dict[str, str]:
    import importlib.util

    return {
        "version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "release": sys.version_info.releaselevel,
        "implementation": sys.implementation.name,
        "cache_tag": sys.implementation.cache_tag or "",
        "magic": importlib.util.MAGIC_NUMBER.hex(),
        "executable": sys.executable,
    }


def _run(command: list[str], *, timeout: float) -> subprocess.CompletedProcess[str] | str:
    """The finished command, or why it did not run (not found, timed out)."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except OSError as error:
        return f"did not start ({error.strerror or error})"
    except subprocess.TimeoutExpired:
        return f"did not answer within {timeout:.0f} s"


def _gist(text: str) -> str:
    """A command's complaint in one line: its first line and, where it goes on, its last (the cause)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no output"
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"


def _probe(executable: str, version: str, found_by: str) -> BytecodeCompiler | str:
    """Run `executable` to see what it is: the compiler, or why not."""
    answer = _run([executable, "-I", "-c", _DESCRIBE], timeout=_PROBE_TIMEOUT_SECONDS)
    if isinstance(answer, str):
        return answer
    if answer.returncode != 0:
        return f"did not run (exit status {answer.returncode}: {_gist(answer.stderr or answer.stdout)})"
    try:
        description = json.loads(answer.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return "is not a Python interpreter"
    return _judge(description, version, found_by)


def _uv_find(uv: str, version: str) -> str | None:
    answer = _run([uv, "python", "find", "--no-project", version], timeout=_UV_FIND_TIMEOUT_SECONDS)
    if isinstance(answer, str) or answer.returncode != 0 or not answer.stdout.strip():
        return None
    return answer.stdout.strip().splitlines()[-1]


def _search_uv(version: str, attempts: list[str], *, provision: bool) -> BytecodeCompiler | None:
    uv = shutil.which("uv")
    if uv is None:
        attempts.append("uv: not on PATH")
        return None
    found = _uv_find(uv, version)
    if found is not None:
        outcome = _probe(found, version, f"uv python find {version}")
        if isinstance(outcome, BytecodeCompiler):
            return outcome
        attempts.append(f"uv python find {version}: {found} {outcome}")
    else:
        attempts.append(f"uv python find {version}: none")
    if not provision:
        return None
    print(f"Installing Python {version} with uv, for the Lambda bundle's bytecode (once) ...", file=sys.stderr)
    installed = _run([uv, "python", "install", version], timeout=_UV_INSTALL_TIMEOUT_SECONDS)
    if isinstance(installed, str):
        attempts.append(f"uv python install {version}: {installed}")
        return None
    if installed.returncode != 0:
        attempts.append(f"uv python install {version}: failed ({_gist(installed.stderr or installed.stdout)})")
        return None
    found = _uv_find(uv, version)
    if found is None:
        attempts.append(f"uv python install {version}: installed, yet uv python find finds none")
        return None
    outcome = _probe(found, version, f"uv python install {version}")
    if isinstance(outcome, BytecodeCompiler):
        return outcome
    attempts.append(f"uv python install {version}: {found} {outcome}")
    return None


def installed_interpreters(version: str) -> list[tuple[Path, str]]:
    """Where this machine keeps a Python `version`, each with how it was found: PATH's, then pyenv's, newest first."""
    found = []
    name = f"python{version}"
    on_path = shutil.which(name)
    if on_path is not None:
        found.append((Path(on_path), f"{name} on PATH"))
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installs = sorted(
        (root / "versions").glob(f"{version}.*"),
        key=lambda path: [int(part) if part.isdigit() else -1 for part in path.name.split(".")],
        reverse=True,
    )
    found += [
        (install / "bin" / name, f"pyenv's {install.name}")
        for install in installs
        if (install / "bin" / name).is_file()
    ]
    return found


def find_bytecode_compiler(
    python_version: str, *, explicit: str | None = None, provision: bool = True
) -> CompilerSearch:
    """An interpreter of `python_version` to compile the bundle with, found as the module says.

    `provision=False` looks only at what is installed (no `uv python install`). Raises
    BytecodeError when `explicit` (the `bytecode_python` setting) is not one: the user asked
    for that interpreter. Searches once per process for the same question and PATH.
    """
    return _search(python_version, explicit, provision, os.environ.get("PATH", ""), os.environ.get("PYENV_ROOT", ""))


@functools.cache
def _search(version: str, explicit: str | None, provision: bool, _path: str, _pyenv_root: str) -> CompilerSearch:
    attempts: list[str] = []

    def done(compiler: BytecodeCompiler | None) -> CompilerSearch:
        return CompilerSearch(python_version=version, compiler=compiler, attempts=tuple(attempts))

    if explicit is not None:
        executable = shutil.which(explicit) or explicit
        outcome = _probe(executable, version, EXPLICIT_SETTING)
        if isinstance(outcome, str):
            raise BytecodeError(f"{EXPLICIT_SETTING}: {explicit} {outcome}; the runtime is python{version}")
        return done(outcome)

    host = _judge(_this_interpreter(), version, "this synth's Python")
    if isinstance(host, BytecodeCompiler):
        return done(host)
    attempts.append(f"this synth's Python ({sys.executable}) {host}")

    installed = installed_interpreters(version)
    if not installed:
        attempts.append(f"python{version} on PATH or in pyenv's versions: none")
    for candidate, found_by in installed:
        outcome = _probe(str(candidate), version, found_by)
        if isinstance(outcome, BytecodeCompiler):
            return done(outcome)
        attempts.append(f"{found_by} ({candidate}) {outcome}")

    return done(_search_uv(version, attempts, provision=provision))


def compile_tree(tree: Path, *, deployed_at: str, compiler: BytecodeCompiler) -> None:
    """Unchecked-hash bytecode for every module under `tree`, written by `compiler`.

    Hash-based: no timestamps inside, and Lambda's read-only /var/task never re-validates.
    `deployed_at` is the tree's path in Lambda, which tracebacks then show.
    """
    command = [
        compiler.executable,
        "-I",
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(tree),
        "-p",
        deployed_at,
        str(tree),
    ]
    answer = _run(command, timeout=600)
    if isinstance(answer, str):
        raise BytecodeError(f"{compiler.executable} (compiling {tree}) {answer}")
    if answer.returncode != 0:
        raise BytecodeError(
            f"compiling bytecode under {tree} with {compiler.executable} failed:\n"
            f"{(answer.stdout + answer.stderr).strip()[-2000:]}"
        )


def check_bytecode(tree: Path, compiler: BytecodeCompiler) -> int:
    """Every module under `tree` has bytecode the runtime reads; the number of .pyc files.

    Raises BytecodeError naming the first module without it or the first file of another
    interpreter, version or invalidation mode.
    """
    expected = _expected_magic(compiler.version) or compiler.magic_number
    count = 0
    for pyc in sorted(tree.rglob("*.pyc")):
        header = pyc.read_bytes()[:8]
        if not pyc.name.endswith(f".{compiler.cache_tag}.pyc") or header[:4] != expected:
            raise BytecodeError(
                f"{pyc.relative_to(tree)} is not bytecode of Python {compiler.version} "
                f"(magic number {header[:4].hex()}, expected {expected.hex()})"
            )
        if int.from_bytes(header[4:8], "little") != UNCHECKED_HASH_FLAGS:
            raise BytecodeError(f"{pyc.relative_to(tree)} is not unchecked-hash bytecode")
        count += 1
    for source in sorted(tree.rglob("*.py")):
        pyc = source.parent / "__pycache__" / f"{source.stem}.{compiler.cache_tag}.pyc"
        if not pyc.is_file():
            raise BytecodeError(f"{source.relative_to(tree)} has no bytecode of Python {compiler.version}")
    return count
