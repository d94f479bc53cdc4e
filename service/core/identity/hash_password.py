"""Print a bcrypt hash for a local users file: ``python -m service.core.identity.hash_password``.

The password is read from the terminal without echo, or as the first line of standard input.
One longer than bcrypt's 72 bytes is refused with a message: bcrypt would read only its start,
and the embedded issuer refuses such passwords at sign-in.
"""

from __future__ import annotations

import getpass
import sys

import bcrypt

from service.core.identity.local import BCRYPT_MAX_PASSWORD_BYTES, BCRYPT_ROUNDS


def main() -> None:
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        raise SystemExit("no password given")
    secret = password.encode()
    if len(secret) > BCRYPT_MAX_PASSWORD_BYTES:
        raise SystemExit(
            f"the password is {len(secret)} bytes long (UTF-8); bcrypt takes at most {BCRYPT_MAX_PASSWORD_BYTES}"
        )
    # The embedded issuer's cost, that of the hash it checks an unknown user against (bcrypt's default is 12).
    print(bcrypt.hashpw(secret, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode())


if __name__ == "__main__":
    main()
