"""The service with generated routes: `generated_routes`'s router as one more resource router.

A user adds a resource by listing its router in `service/api/main.py`'s `RESOURCE_ROUTERS`;
here the list gets the generated router before the handler module builds the app, so that
`include_api` includes it as it includes the others. The service imports its routes with
garbage collection off (`service/runtime/aws_lambda.py`), so these are imported that way too.
"""

import gc

gc.disable()
try:
    from generated_routes import router

    from service.api import main

    main.RESOURCE_ROUTERS = (*main.RESOURCE_ROUTERS, router)
    from service.runtime.aws_lambda import handler
finally:
    gc.enable()

__all__ = ["handler"]
