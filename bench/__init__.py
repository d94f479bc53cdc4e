"""`make bench`: the shipped Lambda asset and the local server, measured against a hello-world floor.

`run` orchestrates; `assets` builds what is measured; `lambda_cases` and `probe` measure the
Lambda handlers in fresh interpreters; `local_asgi` the LOCAL app in process; `load` the
local servers under a load generator; `cases/` holds the floor and the reference handlers.
"""
