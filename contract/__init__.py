"""The API's contract with its consumers (development tooling, never in the Lambda bundle).

- `document.py`: `make openapi`, the OpenAPI document as Lambda serves it, committed as `openapi.json`;
- `gate.py`: `make api-diff`, the breaking-change gate against a base branch's document;
- `access.py`: the gate's own rule for access changes (a new security requirement, scope or group);
- `clients.py`: `make clients`, the typed Python and TypeScript clients generated from the document.

docs/api-contract.md is the guide.
"""
