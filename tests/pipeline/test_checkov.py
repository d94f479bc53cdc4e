"""checkov, a second IaC scanner beside cdk-nag, finds nothing that fails in any synthesized template.

Every template of the default context (the stack a laptop deploys) and of the pipeline's (the
pipeline stack, each environment's API stack, the support stack in production's region), and
one with a confidential client's secret and no reserved concurrency. A check that does not fit
the design is acknowledged on its resource (`infra/checkov.py`), with the reason; checkov reports
it as skipped, and docs/security.md names each.
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT, synthesize
from tests.infra.test_secrets_and_limits import OIDC_CONTEXT
from tests.pipeline.conftest import PipelineSynth
from tests.support import PIPELINE_STACK_NAME, STACK_NAME

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@dataclass
class Findings:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # (check id, resource, the acknowledgement's reason)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def checkov(*templates: Path) -> dict[Path, Findings]:
    """checkov's CloudFormation checks over `templates`, by template; offline."""
    assert CHECKOV.exists(), "checkov is missing: make install creates .venv-checkov"
    command = [str(CHECKOV), "--framework", "cloudformation", "--output", "json", "--skip-download"]
    for template in templates:
        command += ["--file", str(template.resolve())]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: some check failed
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0
    by_template: dict[Path, Findings] = defaultdict(Findings)
    results = report["results"]
    for check in results["passed_checks"]:
        by_template[Path(check["file_abs_path"]).resolve()].passed.append(check["check_id"])
    for check in results["failed_checks"]:
        by_template[Path(check["file_abs_path"]).resolve()].failed.append(f"{check['check_id']} {check['resource']}")
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        found = by_template[Path(check["file_abs_path"]).resolve()]
        found.skipped.append((check["check_id"], check["resource"], reason))
    return dict(by_template)


def pipeline_templates(synth: PipelineSynth) -> list[Path]:
    out = synth.assembly_dir
    return [
        out / f"{PIPELINE_STACK_NAME}.template.json",
        *sorted(out.glob(f"assembly-{PIPELINE_STACK_NAME}-*/*.template.json")),
        *sorted(out.glob("cross-region-stack-*.template.json")),
    ]


@pytest.fixture(scope="module")
def confidential_client_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("checkov-oidc")
    synthesize(out, **OIDC_CONTEXT)
    return out / f"{STACK_NAME}.template.json"


@pytest.fixture(scope="module")
def findings(
    no_pipeline_synth: PipelineSynth, pipeline_synth: PipelineSynth, confidential_client_template: Path
) -> dict[str, dict[str, Findings]]:
    """Findings by context, then by template."""
    default = no_pipeline_synth.assembly_dir / f"{STACK_NAME}.template.json"
    templates = pipeline_templates(pipeline_synth)
    assert len(templates) == 4
    scanned = checkov(default, *templates, confidential_client_template)
    return {
        "default": {default.name: scanned[default.resolve()]},
        "pipeline": {template.name: scanned[template.resolve()] for template in templates},
        "confidential client": {confidential_client_template.name: scanned[confidential_client_template.resolve()]},
    }


def test_no_check_fails_in_any_template(findings: dict[str, dict[str, Findings]]) -> None:
    summary = {
        context: {name: (len(f.passed), len(f.failed), len(f.skipped)) for name, f in templates.items()}
        for context, templates in findings.items()
    }
    print(f"checkov (passed, failed, acknowledged): {json.dumps(summary, indent=2)}")
    for templates in findings.values():
        for name, found in templates.items():
            assert found.failed == [], f"{name}: {found.failed}"
            assert found.passed, f"{name}: checkov checked nothing"


def test_every_acknowledgement_says_why_on_its_resource(findings: dict[str, dict[str, Findings]]) -> None:
    for templates in findings.values():
        for name, found in templates.items():
            for check_id, resource, reason in found.skipped:
                assert len(reason) > 80, f"{name}: {check_id} on {resource}: {reason!r}"


def test_the_api_stack_acknowledges_only_what_does_not_fit_a_synchronous_function_of_public_endpoints(
    findings: dict[str, dict[str, Findings]],
) -> None:
    (default,) = findings["default"].values()
    skipped = sorted((check_id, resource.split(".")[0]) for check_id, resource, _ in default.skipped)

    assert skipped == [
        ("CKV_AWS_116", "AWS::Lambda::Function"),  # dead-letter queue: synchronous invocations only
        ("CKV_AWS_117", "AWS::Lambda::Function"),  # VPC: public endpoints only
        ("CKV_AWS_158", "AWS::Logs::LogGroup"),  # KMS on the access logs
        ("CKV_AWS_158", "AWS::Logs::LogGroup"),  # KMS on the function's logs
        ("CKV_AWS_173", "AWS::Lambda::Function"),  # environment encryption: it holds no secret
    ]
    # Met, not acknowledged: the reserved concurrency.
    assert "CKV_AWS_115" in default.passed


def test_the_pipeline_versions_its_artifacts_and_acknowledges_the_rest(
    findings: dict[str, dict[str, Findings]],
) -> None:
    pipeline = findings["pipeline"][f"{PIPELINE_STACK_NAME}.template.json"]
    (support,) = [f for name, f in findings["pipeline"].items() if name.startswith("cross-region-stack-")]

    assert pipeline.passed.count("CKV_AWS_21") == 1  # the artifact bucket keeps versions
    assert "CKV_AWS_21" in support.passed  # and so does its replica
    assert sorted(check_id for check_id, _, _ in pipeline.skipped) == ["CKV_AWS_111", "CKV_AWS_111", "CKV_AWS_18"]
    assert [check_id for check_id, _, _ in support.skipped] == ["CKV_AWS_18"]


def test_switching_reserved_concurrency_off_is_acknowledged_as_the_context_choice_it_is(
    findings: dict[str, dict[str, Findings]],
) -> None:
    (confidential,) = findings["confidential client"].values()

    (reason,) = [reason for check_id, _, reason in confidential.skipped if check_id == "CKV_AWS_115"]
    assert "reserved_concurrency context key" in reason
