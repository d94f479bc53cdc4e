"""Finding an interpreter of the runtime's version to compile the bundle with, and checking what it wrote.

The search runs the candidates it finds, with PATH set per test to a directory of this test's
own: the real interpreters of this machine (this one, and another version where one is
installed), and scripts that answer as a broken pyenv shim, a pre-release or uv would.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.interpreters import find_python
from infra.bytecode import (
    RUNTIME_MAGIC_NUMBERS,
    BytecodeCompiler,
    BytecodeError,
    check_bytecode,
    compile_tree,
    find_bytecode_compiler,
)
from tests.infra.conftest import HOST_PYTHON

# A version other than this interpreter's, which this machine may have (pyenv, a package).
OTHER = "3.13" if HOST_PYTHON != "3.13" else "3.12"
# A version no test machine has on the PATH a test gives it.
ABSENT = "3.14" if HOST_PYTHON != "3.14" else "3.13"


@pytest.fixture(scope="module")
def other_python() -> BytecodeCompiler:
    found = find_python(OTHER)
    if found is None:
        pytest.skip(f"no Python {OTHER} on this machine (pyenv or PATH)")
    return found


def own_magic_number(executable: str) -> bytes:
    """What the interpreter itself says its bytecode starts with."""
    answer = subprocess.run(
        [executable, "-I", "-c", "import importlib.util; print(importlib.util.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(answer.stdout.strip())


def script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


@pytest.fixture
def path_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The only directory on PATH, and an empty pyenv: what a test puts there is all the search can find."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    return directory


def test_this_synths_python_compiles_for_its_own_runtime(path_dir: Path) -> None:
    search = find_bytecode_compiler(HOST_PYTHON)

    assert search.compiler is not None
    assert search.compiler.found_by == "this synth's Python"
    assert search.compiler.magic_number == importlib.util.MAGIC_NUMBER


def test_the_runtimes_python_on_path_compiles_for_it(path_dir: Path, other_python: BytecodeCompiler) -> None:
    (path_dir / f"python{OTHER}").symlink_to(other_python.executable)

    search = find_bytecode_compiler(OTHER)

    assert search.compiler is not None
    assert search.compiler.found_by == f"python{OTHER} on PATH"
    assert search.compiler.magic_number == own_magic_number(other_python.executable)
    assert search.compiler.cache_tag == "cpython-" + OTHER.replace(".", "")


def test_a_shim_that_does_not_run_is_passed_over_and_the_fix_is_named(path_dir: Path) -> None:
    # What pyenv's shim does for a version that is installed but not selected.
    script(
        path_dir,
        f"python{ABSENT}",
        f"""\
        echo "pyenv: python{ABSENT}: command not found" >&2
        exit 127
        """,
    )

    search = find_bytecode_compiler(ABSENT)

    assert search.compiler is None
    assert search.attempts[1] == (
        f"python{ABSENT} on PATH ({path_dir}/python{ABSENT}) did not run "
        f"(exit status 127: pyenv: python{ABSENT}: command not found)"
    )
    assert search.attempts[-1] == "uv: not on PATH"
    assert f"`uv python install {ABSENT}`" in search.fix()


def test_pyenvs_install_of_a_version_it_has_not_selected_is_found_past_its_failing_shim(
    path_dir: Path, tmp_path: Path
) -> None:
    # `make synth` used to stop at the shim where `make sandbox` looked in pyenv's versions too.
    script(path_dir, f"python{ABSENT}", f'echo "pyenv: python{ABSENT}: command not found" >&2; exit 127\n')
    install = tmp_path / "pyenv" / "versions" / f"{ABSENT}.2" / "bin"
    install.mkdir(parents=True)
    (tmp_path / "pyenv" / "versions" / f"{ABSENT}.10" / "bin").mkdir(parents=True)  # newer, but not installed fully
    description = {
        "version": ABSENT,
        "release": "final",
        "implementation": "cpython",
        "cache_tag": "cpython-" + ABSENT.replace(".", ""),
        "magic": RUNTIME_MAGIC_NUMBERS[ABSENT].to_bytes(2, "little").hex() + "0d0a",
        "executable": str(install / f"python{ABSENT}"),
    }
    script(install, f"python{ABSENT}", f"echo '{json.dumps(description)}'\n")

    search = find_bytecode_compiler(ABSENT, provision=False)

    assert search.compiler is not None
    assert search.compiler.found_by == f"pyenv's {ABSENT}.2"
    assert search.attempts[1].startswith(f"python{ABSENT} on PATH ({path_dir}/python{ABSENT}) did not run")


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        ({"release": "candidate"}, "is a pre-release of Python {v} (candidate), whose bytecode differs"),
        ({"magic": "00000d0a"}, "writes bytecode with magic number 00000d0a, Lambda's Python {v} reads"),
        ({"implementation": "pypy"}, "is pypy, not CPython, which Lambda runs"),
        ({"version": "3.9"}, "is Python 3.9"),
    ],
)
def test_an_interpreter_whose_bytecode_lambda_cannot_read_is_refused(
    path_dir: Path, answer: dict[str, str], refusal: str
) -> None:
    description = {
        "version": ABSENT,
        "release": "final",
        "implementation": "cpython",
        "cache_tag": "cpython-" + ABSENT.replace(".", ""),
        "magic": (3627 if ABSENT == "3.14" else 3571).to_bytes(2, "little").hex() + "0d0a",
        "executable": str(path_dir / f"python{ABSENT}"),
        **answer,
    }
    script(path_dir, f"python{ABSENT}", f"echo '{json.dumps(description)}'\n")

    search = find_bytecode_compiler(ABSENT)

    assert search.compiler is None
    assert refusal.format(v=ABSENT) in search.attempts[1]


def test_bytecode_python_names_the_interpreter(path_dir: Path, other_python: BytecodeCompiler) -> None:
    search = find_bytecode_compiler(OTHER, explicit=other_python.executable)

    assert search.compiler is not None
    assert search.compiler.found_by == "bytecode_python"
    assert search.compiler.executable == other_python.executable


def test_bytecode_python_of_another_version_stops_the_synth(path_dir: Path) -> None:
    with pytest.raises(BytecodeError) as raised:
        find_bytecode_compiler(ABSENT, explicit=sys.executable)

    assert str(raised.value) == (
        f"bytecode_python: {sys.executable} is Python {HOST_PYTHON}; the runtime is python{ABSENT}"
    )


# A stand-in for uv's two commands the search runs: `uv python find --no-project 3.X` prints the
# interpreter's path or fails, `uv python install 3.X` installs or fails as uv does offline.
# Every call is logged to calls.log. PATH holds nothing but this directory: shell builtins only.
UV = """\
echo "$*" >> "{log}"
case "$1 $2" in
  "python find")
    if [ -e "{installed}" ]; then echo "{python}"; exit 0; fi
    echo "error: No interpreter found for Python $4 in virtual environments, managed installations, or search path" >&2
    exit 2 ;;
  "python install")
    if [ "{install_works}" = yes ]; then : > "{installed}"; exit 0; fi
    echo "error: Failed to install cpython-$3-linux-x86_64-gnu" >&2
    echo "  cause: Request failed after 3 retries" >&2
    echo "  cause: failed to lookup address information: Name or service not known" >&2
    exit 1 ;;
esac
exit 2
"""


def stand_in_uv(directory: Path, *, python: str, found: bool, install_works: bool) -> Path:
    log = directory.parent / "calls.log"
    installed = directory.parent / "installed"
    if found:
        installed.touch()
    script(
        directory,
        "uv",
        UV.format(log=log, installed=installed, python=python, install_works="yes" if install_works else "no"),
    )
    return log


def test_uv_finds_an_installed_python(path_dir: Path, other_python: BytecodeCompiler) -> None:
    log = stand_in_uv(path_dir, python=other_python.executable, found=True, install_works=False)

    search = find_bytecode_compiler(OTHER)

    assert search.compiler is not None
    assert search.compiler.found_by == f"uv python find {OTHER}"
    assert log.read_text().splitlines() == [f"python find --no-project {OTHER}"]


def test_uv_installs_the_python_when_none_is_found(path_dir: Path, other_python: BytecodeCompiler) -> None:
    log = stand_in_uv(path_dir, python=other_python.executable, found=False, install_works=True)

    search = find_bytecode_compiler(OTHER)

    assert search.compiler is not None
    assert search.compiler.found_by == f"uv python install {OTHER}"
    assert log.read_text().splitlines() == [
        f"python find --no-project {OTHER}",
        f"python install {OTHER}",
        f"python find --no-project {OTHER}",
    ]


def test_an_install_uv_cannot_download_falls_through_with_uvs_reason(path_dir: Path) -> None:
    stand_in_uv(path_dir, python="/nowhere/python", found=False, install_works=False)

    search = find_bytecode_compiler(ABSENT)

    assert search.compiler is None
    assert search.attempts[-2:] == (
        f"uv python find {ABSENT}: none",
        f"uv python install {ABSENT}: failed (error: Failed to install cpython-{ABSENT}-linux-x86_64-gnu ... "
        "cause: failed to lookup address information: Name or service not known)",
    )


def test_without_provisioning_uv_installs_nothing(path_dir: Path) -> None:
    log = stand_in_uv(path_dir, python="/nowhere/python", found=False, install_works=True)

    search = find_bytecode_compiler(ABSENT, provision=False)

    assert search.compiler is None
    assert log.read_text().splitlines() == [f"python find --no-project {ABSENT}"]


def source_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "package").mkdir(parents=True)
    (tree / "package" / "__init__.py").write_text("VALUE = 1\n")
    (tree / "package" / "module.py").write_text("def twice(x: int) -> int:\n    return 2 * x\n")
    return tree


def test_the_bytecode_is_checked_against_the_runtime_before_it_ships(
    tmp_path: Path, other_python: BytecodeCompiler
) -> None:
    tree = source_tree(tmp_path)
    compile_tree(tree, deployed_at="/var/task", compiler=other_python)

    assert check_bytecode(tree, other_python) == 2
    pyc = tree / "package" / "__pycache__" / f"module.{other_python.cache_tag}.pyc"
    assert pyc.read_bytes()[:4] == own_magic_number(other_python.executable)

    # Bytecode of this interpreter, under the runtime's name: refused.
    this_pythons = tmp_path / "this"
    shutil.copytree(source_tree(tmp_path / "again"), this_pythons)
    host = find_bytecode_compiler(HOST_PYTHON).compiler
    assert host is not None
    compile_tree(this_pythons, deployed_at="/var/task", compiler=host)
    (this_pythons / "package" / "__pycache__" / f"module.{host.cache_tag}.pyc").replace(pyc)
    with pytest.raises(BytecodeError, match=r"package/__pycache__/module\..*\.pyc is not bytecode of Python"):
        check_bytecode(tree, other_python)

    # A module without its bytecode: refused.
    pyc.unlink()
    with pytest.raises(BytecodeError, match=f"package/module.py has no bytecode of Python {OTHER}"):
        check_bytecode(tree, other_python)


def test_a_module_the_runtimes_python_cannot_compile_stops_the_build(
    tmp_path: Path, other_python: BytecodeCompiler
) -> None:
    tree = source_tree(tmp_path)
    (tree / "package" / "broken.py").write_text("def (:\n")

    with pytest.raises(BytecodeError, match=r"compiling bytecode under .* failed"):
        compile_tree(tree, deployed_at="/var/task", compiler=other_python)
