"""docs/recipes.md, "Add an AWS resource the function uses": its code, run in the stack as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aws_cdk import App

from app import build
from tests.support import ROOT, committed_context

RECIPE = "Add an AWS resource the function uses"


def recipe_code() -> str:
    section = re.split(r"^## ", (ROOT / "docs" / "recipes.md").read_text(), flags=re.MULTILINE)
    (text,) = [s for s in section if s.startswith(RECIPE + "\n")]
    (code,) = re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
    return str(code)


def test_the_table_is_granted_to_the_function_and_named_in_its_environment(tmp_path: Path) -> None:
    app = App(context=committed_context(), outdir=str(tmp_path))
    stacks = build(app)
    exec(recipe_code(), {"self": stacks.api})  # noqa: S102 - the recipe's own lines, "after the LambdaApi"
    template: dict[str, Any] = app.synth().get_stack_by_name(stacks.api.stack_name).template  # nag runs here

    resources = template["Resources"]
    (table_id,) = [key for key, value in resources.items() if value["Type"] == "AWS::DynamoDB::GlobalTable"]
    (function,) = [value for value in resources.values() if value["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["Environment"]["Variables"]["ORDERS_TABLE_NAME"] == {"Ref": table_id}
    (policy,) = [value for value in resources.values() if value["Type"] == "AWS::IAM::Policy"]
    granted = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(action).startswith("dynamodb:") for action in statement["Action"])
    ]
    assert granted
    actions = [action for statement in granted for action in statement["Action"]]
    # Reads only (grant_read_data), and only this table (and its indexes).
    assert "dynamodb:GetItem" in actions
    assert not [
        action for action in actions if action.startswith(("dynamodb:Put", "dynamodb:Update", "dynamodb:Delete"))
    ]
    for statement in granted:
        assert table_id in str(statement["Resource"])
