"""The floor with generated routes: the hello world's app includes the router of `generated_routes`.

`generated_routes` comes from a directory of its own per route count (`bench/assets.py`), the
same module the service's case includes, under the same `/v1` prefix.
"""

from floor_handler import app, handler
from generated_routes import router

app.include_router(router, prefix="/v1")

__all__ = ["handler"]
