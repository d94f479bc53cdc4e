"""The pinned CDK CLI synthesizes the app offline, and CloudFormation's linter accepts every template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.infra.conftest import ROOT, STACK, CliSynth, Synthesized, code_asset_dir


def test_the_cli_is_the_pinned_one() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/aws-cdk"]["version"]
    installed = json.loads((ROOT / "node_modules" / "aws-cdk" / "package.json").read_text())["version"]

    assert pinned == locked == installed


def test_the_cli_synthesizes_the_stack_without_network(cli_synth: CliSynth) -> None:
    manifest = json.loads((cli_synth.assembly_dir / "manifest.json").read_text())

    assert manifest["artifacts"][STACK]["type"] == "aws:cloudformation:stack"
    assert (cli_synth.assembly_dir / f"{STACK}.template.json").is_file()
    assert code_asset_dir(cli_synth.assembly_dir).is_dir()


def test_the_same_inputs_give_the_same_asset_hash_in_another_process(
    cli_synth: CliSynth, host_synth: Synthesized
) -> None:
    assert code_asset_dir(cli_synth.assembly_dir).name == host_synth.asset_dir.name


def cfn_lint(*templates: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *map(str, templates)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.stdout.strip(), result.stderr
    findings: list[dict[str, Any]] = json.loads(result.stdout)
    return findings


def test_cfn_lint_finds_no_errors(cli_synth: CliSynth, default_synth: Synthesized, custom_synth: Synthesized) -> None:
    templates = [
        cli_synth.assembly_dir / f"{STACK}.template.json",
        default_synth.assembly_dir / f"{STACK}.template.json",
        custom_synth.assembly_dir / f"{STACK}.template.json",
    ]

    findings = cfn_lint(*templates)

    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=2)
