"""What the service is measured against, each a module the benchmark copies beside its imports.

- `floor_handler`: the floor. A hello-world FastAPI app, one async health route, behind
  Mangum; it imports the very same packages from the same bundled asset as the service.
- `powertools_handler`: AWS Lambda Powertools' `APIGatewayHttpResolver` hello world, from
  its own directory (never part of the service's bundle).
- `bare_handler`: Python's own floor, a handler that returns JSON and imports nothing; also a
  bare ASGI app, the reference for the local server's requests per second.

They run in `python -I -S` with only their directories on sys.path: no repository imports.
"""
