"""`make sandbox`: the synthesized stack on loopback, as `cdk deploy` would create it.

Development tooling, never part of the Lambda bundle (which ships `service/` alone). It reads
a cloud assembly (`cdk.out`) and nothing else: the HTTP API emulation in front takes its
routes, JWT authorizer, stage, throttling, CORS and custom domain from the template; behind
it the function's bundled asset runs in its own process under `awslambdaric` (the runtime
interface client of AWS's managed Python runtime), against a local Lambda Runtime API, with
the function's environment from the template.

- `synth.py`: `cdk synth` by the pinned CLI, for this machine and the offline services;
- `assembly.py`: the template and the asset, read into what the sandbox serves;
- `gateway.py`: the HTTP API (routes, authorizer, CORS, throttling, payload 2.0 events);
- `runtime_api.py`: the Lambda Runtime API and the execution environment behind it;
- `runtime_client.py`: an interpreter of the function's Python and `awslambdaric` for it;
- `offline.py`: what the sandbox stands in for offline, an identity provider and the docs' CDN;
- `server.py`: one server for all of their ports;
- `__main__.py`: `python -m sandbox run | serve | offline`.
"""
