"""The docs pages' assets: the files of Swagger UI and ReDoc, from the npm packages the lock pins.

One place for what the docs pages load and from which pinned package (package-lock.json's
version and integrity of `swagger-ui-dist` and `redoc`):
- `fetch(DIR)` downloads just those packages' tarballs from the npm registry the user
  configured (`.npmrc`, `npm_config_registry`: `npm_registry()`, as `npm ci` reads it), checks each
  against the lock's `integrity` (as `npm ci` does) and unpacks the files the pages load into
  `DIR/<package>@<version>/`, the layout of jsDelivr's npm mirror, with `integrity.json` beside
  them. `make dev` runs it (`python -m infra.docs_assets DIR`) and serves DIR from the app, so
  the docs pages load offline without the full `npm ci`; it needs the standard library only.
- `asset_integrity(DIR)` is each file's subresource integrity (`sha384-...`), keyed by its
  path under the mirror (`swagger-ui-dist@5.35.0/swagger-ui-bundle.js`). At synth the function
  gets it as `DOCS_ASSETS_INTEGRITY`, so in Lambda the pages name exact versions on the CDN
  and the browser refuses a file that is not the pinned one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "package-lock.json"
CACHE = ROOT / ".cache" / "docs-assets"
# npm's own registry: where `npm ci` fetches the lock's packages from unless configured otherwise.
REGISTRY = "https://registry.npmjs.org"
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Each package, and the files of it the docs pages load (`service/api/routes/docs.py`).
FILES: dict[str, tuple[str, ...]] = {
    "swagger-ui-dist": ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"),
    "redoc": ("bundles/redoc.standalone.js",),
}
INTEGRITY_FILE = "integrity.json"


class DocsAssetsError(Exception):
    """A pinned package could not be fetched, or is not what the lock says it is."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    integrity: str  # the tarball's, as the lock records it: "sha512-<base64>"

    @property
    def served_as(self) -> str:
        return f"{self.name}@{self.version}"

    def tarball_url(self, registry: str = REGISTRY) -> str:
        # npm treats the default registry in a lock's `resolved` URLs as "the configured one" and
        # fetches `<registry>/<name>/-/<name>-<version>.tgz` there (npm's package-lock.json docs).
        return f"{registry.rstrip('/')}/{self.name}/-/{self.name}-{self.version}.tgz"


@dataclass(frozen=True)
class Registry:
    url: str
    token: str | None = None  # the config's `//host/path/:_authToken` for it


def _npmrc(path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """`key=value` lines of an .npmrc, `${VAR}` expanded from the environment as npm does."""
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        text = line.strip()
        key, separator, value = text.partition("=")
        if not separator or text.startswith(("#", ";")):
            continue
        value = _ENV_REFERENCE.sub(lambda match: environ.get(match[1], ""), value.strip().strip("\"'"))
        entries[key.strip()] = value
    return entries


def npm_registry(project_dir: Path = ROOT, environ: Mapping[str, str] | None = None) -> Registry:
    """The registry `npm ci` in `project_dir` fetches from: npm's config, lowest precedence first.

    The user's `~/.npmrc` (or `NPM_CONFIG_USERCONFIG`), then the project's `.npmrc`, then
    `npm_config_registry` in the environment (npm's "config" docs). Only unscoped packages are
    fetched, so `@scope:registry` lines do not apply.
    """
    environ = os.environ if environ is None else environ
    variables = {name.lower(): value for name, value in environ.items()}
    home = Path(environ.get("HOME", str(Path.home())))
    user_config = Path(variables.get("npm_config_userconfig") or home / ".npmrc")
    config = {**_npmrc(user_config, environ), **_npmrc(project_dir / ".npmrc", environ)}
    url = variables.get("npm_config_registry") or config.get("registry") or REGISTRY
    url = url.rstrip("/") + "/"
    nerf_dart = "//" + url.split("://", 1)[-1]
    return Registry(url=url.rstrip("/"), token=config.get(f"{nerf_dart}:_authToken") or None)


def pins(lock: Path = LOCK) -> list[Pin]:
    packages = json.loads(lock.read_text())["packages"]
    found = []
    for name in FILES:
        entry = packages.get(f"node_modules/{name}")
        if entry is None:
            raise DocsAssetsError(f"{lock.name} pins no {name}: add it to package.json and run npm install")
        found.append(Pin(name, entry["version"], entry["integrity"]))
    return found


def sri(data: bytes) -> str:
    """Subresource integrity of `data`, as a browser checks it."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _check_tarball(pin: Pin, url: str, data: bytes) -> None:
    algorithm, _, expected = pin.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise DocsAssetsError(f"{url}: its {algorithm} is not the lock's; refusing it")


def _download(pin: Pin, registry: Registry) -> bytes:
    url = pin.tarball_url(registry.url)
    request = urllib.request.Request(url)  # noqa: S310 - the registry npm is configured with
    if registry.token:
        request.add_header("Authorization", f"Bearer {registry.token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - as above
            data: bytes = answer.read()
    except OSError as error:
        raise DocsAssetsError(f"cannot fetch {url} ({error}); the docs pages need it offline") from None
    _check_tarball(pin, url, data)
    return data


def _unpack(pin: Pin, data: bytes, into: Path) -> None:
    """Only the files the pages load, from the tarball's `package/` folder."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for name in FILES[pin.name]:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                raise DocsAssetsError(f"{pin.served_as} has no {name}")
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())


def fetch(into: Path = CACHE, lock: Path = LOCK) -> dict[str, str]:
    """The pinned files under `into` (fetched once per version from npm's registry), and their integrity map."""
    registry = npm_registry(lock.parent)
    for pin in pins(lock):
        directory = into / pin.served_as
        if all((directory / name).is_file() for name in FILES[pin.name]):
            continue
        # Beside, then renamed: an interrupted fetch never leaves a half package that looks whole.
        partial = into / f".{pin.served_as}.partial"
        partial.mkdir(parents=True, exist_ok=True)
        _unpack(pin, _download(pin, registry), partial)
        partial.rename(directory)
    integrity = asset_integrity(into, lock)
    (into / INTEGRITY_FILE).write_text(json.dumps(integrity, indent=2) + "\n")
    return integrity


def asset_integrity(directory: Path = CACHE, lock: Path = LOCK) -> dict[str, str]:
    """`<package>@<version>/<file>` -> `sha384-...` of that file under `directory`."""
    return {
        f"{pin.served_as}/{name}": sri((directory / pin.served_as / name).read_bytes())
        for pin in pins(lock)
        for name in FILES[pin.name]
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    into = Path(arguments[0]) if arguments else CACHE
    try:
        fetch(into)
    except DocsAssetsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
