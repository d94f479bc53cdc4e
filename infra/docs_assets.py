"""The docs pages' assets: the files of Swagger UI and ReDoc, from the npm packages the lock pins.

One place for what the docs pages load and from which pinned package (package-lock.json's
version and integrity of `swagger-ui-dist` and `redoc`):
- `fetch(DIR)` downloads just those packages' tarballs from the npm registry, checks each
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
import sys
import tarfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "package-lock.json"
CACHE = ROOT / ".cache" / "docs-assets"
# npm's own registry: where `npm ci` fetches the lock's packages from.
REGISTRY = "https://registry.npmjs.org"
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

    @property
    def tarball_url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name}-{self.version}.tgz"


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


def _check_tarball(pin: Pin, data: bytes) -> None:
    algorithm, _, expected = pin.integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise DocsAssetsError(f"{pin.tarball_url}: its {algorithm} is not the lock's; refusing it")


def _download(pin: Pin) -> bytes:
    try:
        with urllib.request.urlopen(pin.tarball_url, timeout=60) as answer:  # noqa: S310 - a fixed https URL
            data: bytes = answer.read()
    except OSError as error:
        raise DocsAssetsError(f"cannot fetch {pin.tarball_url} ({error}); the docs pages need it offline") from None
    _check_tarball(pin, data)
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
    """The pinned files under `into` (fetched once per version), and their integrity map."""
    for pin in pins(lock):
        directory = into / pin.served_as
        if all((directory / name).is_file() for name in FILES[pin.name]):
            continue
        # Beside, then renamed: an interrupted fetch never leaves a half package that looks whole.
        partial = into / f".{pin.served_as}.partial"
        partial.mkdir(parents=True, exist_ok=True)
        _unpack(pin, _download(pin), partial)
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
