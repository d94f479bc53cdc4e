"""checkov's acknowledgements, written where cdk-nag's are: on the resource, with the reason.

checkov (run over every synthesized template by `make test`) reads a resource's template
metadata, `Metadata.checkov.skip: [{id, comment}]`, and reports the check as skipped with
that comment instead of failed. A construct calls `skip_check` on the resource a check does
not fit, next to its cdk-nag acknowledgements; each reason is about that resource.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnResource
from constructs import IConstruct

METADATA_KEY = "checkov"


def skip_check(construct: IConstruct, check_id: str, reason: str) -> None:
    """Acknowledge checkov's `check_id` on the construct's CloudFormation resource, saying why."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource to acknowledge {check_id} on")
    existing: dict[str, Any] = resource.get_metadata(METADATA_KEY) or {}
    skips = [skip for skip in existing.get("skip", []) if skip["id"] != check_id]
    resource.add_metadata(METADATA_KEY, {"skip": [*skips, {"id": check_id, "comment": reason}]})
