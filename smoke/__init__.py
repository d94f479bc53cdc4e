"""`python -m smoke`: what a user would notice of a deployed API, checked from outside, one line per check.

Run by the pipeline after each stage deploys, and by the tests against the sandbox. It talks
to the API over HTTP only, so it imports nothing of the service (it must work against what is
deployed, not against what is checked out) and is never part of the Lambda bundle, which ships
`service/` alone.

- `checks.py`: the checks, in the order a user meets the API;
- `__main__.py`: the command line, the test user from the environment, the exit status.
"""
