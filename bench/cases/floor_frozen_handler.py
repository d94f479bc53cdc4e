"""The floor with the service's own cold-start step: no garbage collection during init, then freeze.

`service.runtime.aws_lambda` does this; measured against this case, the ratio shows what the
service's code costs beyond the framework, without the help of that step.
"""

import gc

gc.disable()
try:
    from floor_handler import handler
finally:
    gc.freeze()
    gc.enable()

__all__ = ["handler"]
