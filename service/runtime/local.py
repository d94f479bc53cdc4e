"""The local entry point (`make dev`): the same app under uvicorn, playing the gateway itself."""

from __future__ import annotations

import argparse
import sys

from service.app import create_app
from service.core.settings import IdentityProviderName, Runtime, SettingsError, load_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the API locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        if settings.runtime is not Runtime.LOCAL:
            raise SettingsError("RUNTIME: must be LOCAL to serve locally")
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

    app = create_app(settings)
    base = f"http://{args.host}:{args.port}"
    print(f"API:   {base}/v1/manage/hc")
    if settings.docs_enabled:
        print(f"Docs:  {base}/v1/docs  (Authorize with a user below)")
    print(f"Identity provider: {settings.provider.value}")
    if settings.provider is IdentityProviderName.LOCAL and settings.local_users_file is None:
        print("Demo users: admin@example.com / admin-password (ADMINS, USERS)")
        print("            user@example.com / user-password (USERS)")
    sys.stdout.flush()

    import uvicorn

    uvicorn.run(app, host=args.host, port=args.port, log_level="info", server_header=False)


if __name__ == "__main__":
    main()
