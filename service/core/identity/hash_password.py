"""Print a bcrypt hash for a local users file: ``python -m service.core.identity.hash_password``."""

from __future__ import annotations

import getpass
import sys

import bcrypt


def main() -> None:
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        raise SystemExit("no password given")
    print(bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode())


if __name__ == "__main__":
    main()
