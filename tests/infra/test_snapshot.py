"""One snapshot of the default template, to see every change a refactoring makes.

Asset hashes are neutralised, so changing the service's code does not churn it; changing its
routes does, on purpose. After an intended change: `UPDATE_SNAPSHOTS=1 make pytest`, and
review the diff.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from tests.infra.conftest import Synthesized

SNAPSHOT = os.path.join(os.path.dirname(__file__), "snapshots", "api_stack.template.json")


def neutralise_asset_hashes(template: dict[str, Any]) -> str:
    text = json.dumps(template, indent=2, sort_keys=True) + "\n"
    text = re.sub(r'"[0-9a-f]{64}\.zip"', '"<asset hash>.zip"', text)
    # A published version's logical id carries a hash of the function's code and configuration.
    return re.sub(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}", r"\1<hash>", text)


def test_the_default_template_matches_the_snapshot(default_synth: Synthesized) -> None:
    actual = neutralise_asset_hashes(default_synth.template_json)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        with open(SNAPSHOT, "w") as snapshot:
            snapshot.write(actual)
    with open(SNAPSHOT) as snapshot:
        expected = snapshot.read()

    assert actual == expected, "the template changed: if intended, run `UPDATE_SNAPSHOTS=1 make pytest` and review"
