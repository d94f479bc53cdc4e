"""cdk-nag's AwsSolutions checks, attached once for the whole app.

cdk-nag 3 runs as a CDK policy-validation plugin: a finding nobody acknowledged fails synth.
Acknowledgements live beside the resource they concern (`Validations.of(resource).acknowledge`)
and say why; see `LambdaApi._acknowledge_design_choices`.
"""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks


def add_nag_checks(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
