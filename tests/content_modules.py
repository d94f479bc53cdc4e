"""Which test modules depend on the app's content, and on which part of it: the rule tests/test_recipes.py runs by.

A recipe (docs/recipes.md) changes the app's routes (with their scopes and groups), its settings
(and the function's environment) or the stack's name. A test module depends on one of these
when it imports, directly or through a helper module of tests/ it imports, a module that holds
or derives them (`SOURCES`), or when it names a file that records them (`FILES`): cdk.json, the
committed OpenAPI document. A synthesized template holds all three, so the synth fixtures'
modules count for every kind. tests/support.py, tests/support_sandbox.py and tests/conftest.py
are not followed: every module reaches them, for their mechanisms.

Every module the rule finds is either run on the recipes' copies or left out in `LEFT_OUT`, with
the reason; tests/test_recipes.py fails when a module is neither, so the selection cannot drift.
"""

from __future__ import annotations

import ast
import functools

from tests.support import ROOT

ROUTES, SETTINGS, STACK = "routes", "settings", "stack"
ALL = frozenset({ROUTES, SETTINGS, STACK})

# Module (or package) names, and the kinds of content a module importing them reads.
SOURCES: dict[str, frozenset[str]] = {
    "tests.declared": frozenset({ROUTES}),
    "tests.route_scopes": frozenset({ROUTES}),
    "service.api": frozenset({ROUTES}),
    "service.app": frozenset({ROUTES, SETTINGS}),
    "service.core.access.declaration": frozenset({ROUTES}),
    "service.core.access.route_scopes": frozenset({ROUTES}),
    "infra.routes": frozenset({ROUTES}),
    "service.core.settings": frozenset({SETTINGS}),
    "infra.service_settings": frozenset({SETTINGS}),
    "infra.config": frozenset({STACK, SETTINGS}),
    "infra.stacks": ALL,
    "infra.stages": ALL,
    # The synth fixtures: the template holds the routes, the function's environment and the stack's name.
    "tests.infra.conftest": ALL,
    "tests.pipeline.conftest": ALL,
}
# Files a module may read by name, and what they record.
FILES: dict[str, frozenset[str]] = {
    "cdk.json": frozenset({STACK, SETTINGS}),
    "openapi.json": frozenset({ROUTES}),
}
NOT_FOLLOWED = frozenset({"tests.support", "tests.support_sandbox", "tests.conftest"})

# Modules the rule finds that the recipes' copies do not run, and why.
LEFT_OUT: dict[str, str] = {
    "tests/test_recipes.py": "this test; the combined copy runs its adoption check",
    "tests/browser/test_docs_assets.py": "needs chromium; its expectations come from the same helpers",
    "tests/bench/test_bench_smoke.py": "imports the host Python's version only; the bench prints figures",
    "tests/identity/test_client_secret.py": "an identity provider's emulator (minutes); routes and settings as given",
    "tests/identity/test_cognito.py": "the Cognito stand-in (minutes); its settings are its own, no route's",
    "tests/identity/test_faults.py": "identity providers' faults, on the settings each test gives",
    "tests/identity/test_firebase.py": "the Firebase emulator (minutes); its settings are its own, no route's",
    "tests/identity/test_oauth_clients.py": "identity providers' OAuth clients, on the settings each test gives",
    "tests/identity/test_provider_error_codes.py": "identity providers' error codes, on the settings each test gives",
    "tests/infra/test_asset_runs.py": "the bundle built and run: its wheels change with the dependency recipe only",
    "tests/infra/test_bundle.py": "the bundle's wheels: the dependency recipe's, not these four",
    "tests/infra/test_bytecode.py": "the bundle's bytecode: the dependency recipe's, not these four",
    "tests/infra/test_other_python_bundle.py": "the bundle for another Python (minutes): the dependency recipe's",
    "tests/infra/test_cli_synth.py": "the CLI's synth (minutes); the template it checks is test_snapshot's",
    "tests/service/test_dev_server_hostile_inputs.py": "the dev server's hostile inputs: no route's content",
    "tests/browser/test_swagger_ui.py": "needs chromium; its expectations come from the same helpers",
}


def _imports(module: str) -> set[str]:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        return set()
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _source_kinds(name: str) -> frozenset[str]:
    return frozenset().union(
        *(kinds for source, kinds in SOURCES.items() if name == source or name.startswith(source + "."))
    )


@functools.cache
def _module_kinds(module: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
    kinds: set[str] = set()
    for name in _imports(module):
        kinds |= _source_kinds(name)
        if name.startswith("tests.") and name not in NOT_FOLLOWED and name not in seen and name != module:
            kinds |= _module_kinds(name, seen | {module})
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if path.is_file():
        text = path.read_text()
        kinds.update(*(kinds_ for name, kinds_ in FILES.items() if name in text))
    return frozenset(kinds)


def content_dependent() -> dict[str, frozenset[str]]:
    """Every test module of tests/ that depends on the app's content, with the kinds it depends on."""
    found = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        relative = path.relative_to(ROOT)
        kinds = _module_kinds(".".join(relative.with_suffix("").parts))
        if kinds:
            found[relative.as_posix()] = kinds
    return found


def selected(kinds: frozenset[str] = ALL) -> list[str]:
    """The modules a copy changed in `kinds` runs: those depending on any of them, less `LEFT_OUT`."""
    return [module for module, own in content_dependent().items() if own & kinds and module not in LEFT_OUT]


def through_the_sandbox(module: str) -> bool:
    """Whether the module runs the app through the sandbox (its CLI synth, gateway and servers: minutes a session)."""
    dotted = module.removesuffix(".py").replace("/", ".")
    return module.startswith("tests/sandbox/") or "tests.support_sandbox" in _imports(dotted)


def synthesizes(module: str) -> bool:
    """Whether the module takes a synthesized template (the synth fixtures: seconds each, per session)."""
    seen: set[str] = set()
    pending = [module.removesuffix(".py").replace("/", ".")]
    while pending:
        for name in _imports(pending.pop()):
            if name.startswith(("tests.infra.conftest", "tests.pipeline.conftest")):
                return True
            if name.startswith("tests.") and name not in NOT_FOLLOWED and name not in seen:
                seen.add(name)
                pending.append(name)
    return False
