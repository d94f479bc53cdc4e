"""`make lock`'s constraint files: the venv's packages as pip freezes them, and every earlier pin it does not name.

`pip freeze` lists what this machine installed, and a package installed only on another
platform or Python (tzdata, a dependency only where the system has no time zone data) is not
there: rewriting the file from the freeze alone dropped its pin. So a pin the freeze names is
replaced (that is what `make lock` means to change), and any other earlier pin is kept; a
constraint on a package nothing installs constrains nothing.

python -m infra.constraints constraints.txt < freeze.txt   rewrites constraints.txt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def _name(line: str) -> str | None:
    """The normalized name of a `name==version` line (PEP 503), None for a comment or a blank line."""
    requirement = line.split("#", 1)[0].strip()
    if not requirement:
        return None
    name = re.split(r"[=<>!~;\[ ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def merge(previous: str, frozen: str) -> str:
    """The previous file's header comments, then the frozen pins and the previous ones the freeze does not name."""
    header = [line for line in previous.splitlines() if line.startswith("#")]
    pins = {name: line.strip() for line in previous.splitlines() if (name := _name(line))}
    pins.update({name: line.strip() for line in frozen.splitlines() if (name := _name(line))})
    # In the order pip freeze writes them (by the name as spelled, ignoring case), so a lock changes only what changed.
    return "\n".join([*header, *sorted(pins.values(), key=lambda pin: re.split(r"[=<>!~;\[ ]", pin)[0].lower())]) + "\n"


def main() -> None:
    (path,) = sys.argv[1:]
    target = Path(path)
    target.write_text(merge(target.read_text(), sys.stdin.read()))


if __name__ == "__main__":
    main()
