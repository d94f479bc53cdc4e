"""`make clients`: the typed clients, generated from the committed OpenAPI document.

- `clients/python/`: a package (`api_client`) by openapi-python-client, with `api_client.oauth`
  (hand-written, `contract/python_client/oauth.py`) for signing in and refreshing;
- `clients/typescript/`: the document's types by openapi-typescript (`src/schema.d.ts`), for
  openapi-fetch, beside a hand-written `src/client.ts`; `tsc` type-checks them.

    python -m contract.clients          # regenerate both
    python -m contract.clients --check  # exit 1, naming the command, when either differs from the document's
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from contract.document import DOCUMENT, ROOT

CLIENTS = ROOT / "clients"
PYTHON_PACKAGE = "api_client"
PYTHON_CONFIG = ROOT / "contract" / "python-client.yaml"
OAUTH_MODULE = ROOT / "contract" / "python_client" / "oauth.py"
TYPESCRIPT_TYPES = Path("typescript") / "src" / "schema.d.ts"
REGENERATE = "make clients"
TOKEN_PATH_LINE = 'TOKEN_PATH = "/v1/auth/token"'  # noqa: S105 - a line of code, not a secret


class GenerationError(Exception):
    """A generator failed; the message carries its output."""


def _run(command: list[str], cwd: Path) -> None:
    # The generator's post hooks run the venv's ruff, whatever PATH the caller has.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, "PATH": path}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise GenerationError(f"{' '.join(command[:2])} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _token_path() -> str:
    schemes = json.loads(DOCUMENT.read_text()).get("components", {}).get("securitySchemes", {})
    urls = [s["flows"]["password"]["tokenUrl"] for s in schemes.values() if "password" in s.get("flows", {})]
    if len(urls) != 1:
        raise GenerationError(f"{DOCUMENT.name}: expected one OAuth2 password flow, found {len(urls)}")
    return str(urls[0])


def generate_python(into: Path) -> None:
    """openapi-python-client's project in `into` (which it creates), with the sign-in module."""
    bin_dir = Path(sys.executable).parent
    _run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(DOCUMENT),
            "--config",
            str(PYTHON_CONFIG),
            "--meta",
            "setup",
            "--output-path",
            str(into),
            "--overwrite",
        ],
        cwd=into.parent,
    )
    oauth = OAUTH_MODULE.read_text()
    if TOKEN_PATH_LINE not in oauth:
        raise GenerationError(f"{OAUTH_MODULE}: no line `{TOKEN_PATH_LINE}` to write the token path into")
    token_path = json.dumps(_token_path())
    (into / PYTHON_PACKAGE / "oauth.py").write_text(oauth.replace(TOKEN_PATH_LINE, f"TOKEN_PATH = {token_path}"))


def generate_typescript_types(into: Path) -> None:
    into.parent.mkdir(parents=True, exist_ok=True)
    _run([str(ROOT / "node_modules" / ".bin" / "openapi-typescript"), str(DOCUMENT), "-o", str(into)], cwd=ROOT)


def generate(into: Path) -> None:
    """Both clients' generated files under `into` (a `clients/` directory)."""
    generate_python(into / "python")
    generate_typescript_types(into / TYPESCRIPT_TYPES)


# What tools leave beside the generated files (pip's in-tree build, caches): never compared.
_LEFT_BY_TOOLS = {"__pycache__", "build", "dist", ".ruff_cache", ".mypy_cache", ".pytest_cache"}


def _generated_files(clients: Path) -> set[Path]:
    python = {p.relative_to(clients) for p in (clients / "python").rglob("*") if p.is_file()}
    python = {
        p
        for p in python
        if not _LEFT_BY_TOOLS & set(p.parts) and not any(part.endswith(".egg-info") for part in p.parts)
    }
    return python | ({TYPESCRIPT_TYPES} if (clients / TYPESCRIPT_TYPES).exists() else set())


def differences(generated: Path, committed: Path = CLIENTS) -> list[str]:
    """The files that differ between a fresh generation and the committed clients."""
    wanted, present = _generated_files(generated), _generated_files(committed)
    changed = [p for p in wanted & present if not filecmp.cmp(generated / p, committed / p, shallow=False)]
    return sorted(str(Path("clients") / p) for p in (wanted ^ present) | set(changed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contract.clients", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed clients instead of writing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        generated = Path(scratch) / "clients"
        generated.mkdir()
        try:
            generate(generated)
        except GenerationError as error:
            print(error, file=sys.stderr)
            return 2
        if args.check:
            stale = differences(generated)
            if stale:
                print(
                    f"the clients differ from {DOCUMENT.name}'s: run `{REGENERATE}` and commit them",
                    file=sys.stderr,
                )
                print("\n".join(f"  {name}" for name in stale), file=sys.stderr)
                return 1
            return 0
        shutil.rmtree(CLIENTS / "python", ignore_errors=True)
        shutil.copytree(generated / "python", CLIENTS / "python")
        (CLIENTS / TYPESCRIPT_TYPES).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(generated / TYPESCRIPT_TYPES, CLIENTS / TYPESCRIPT_TYPES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
