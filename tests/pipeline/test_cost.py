"""docs/cost.md's table is what infra/cost.py computes from the synthesized templates and its stated assumptions.

The figures are never typed by hand: the table in the document must be the one rendered from
the production environment's API stack and the pipeline's stack, as `tests/pipeline/conftest.py`
synthesizes them; `UPDATE_COST_DOC=1` rewrites it after a change of the stack or the assumptions.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

from infra.cost import PRICES, PRICES_AS_OF, VOLUMES, access_log_line_bytes, compute, table
from tests.pipeline.conftest import PipelineSynth
from tests.support import ROOT

DOC = ROOT / "docs" / "cost.md"
BLOCK = re.compile(r"(<!-- cost-table: .*? -->\n)(.*?)(<!-- /cost-table -->)", re.DOTALL)
ENVIRONMENT = "production"


def rendered(pipeline_synth: PipelineSynth) -> str:
    return table(compute(pipeline_synth.stages[ENVIRONMENT].template_json, pipeline_synth.pipeline_json))


def test_the_documents_table_is_the_computed_one(pipeline_synth: PipelineSynth) -> None:
    text = DOC.read_text()
    match = BLOCK.search(text)
    assert match, f"{DOC}: no <!-- cost-table: ... --> block"
    computed = rendered(pipeline_synth)
    if os.environ.get("UPDATE_COST_DOC") and match[2] != computed:
        DOC.write_text(text[: match.start(2)] + computed + text[match.end(2) :])
        match = BLOCK.search(DOC.read_text())
        assert match
    assert match[2] == computed, (
        "docs/cost.md's table is not what the templates give: UPDATE_COST_DOC=1 .venv/bin/python -m pytest "
        "tests/pipeline/test_cost.py, then review the diff"
    )


def test_every_price_names_its_aws_pricing_page_and_the_document_its_date() -> None:
    text = DOC.read_text()
    assert PRICES_AS_OF in text
    for price in PRICES.values():
        assert price.page.startswith("https://aws.amazon.com/")
        assert price.page.endswith("/pricing/")
        assert price.page in text, price.page


def test_every_price_row_names_the_copy_it_was_read_in() -> None:
    # "Prices": a row per price, its last cell the stored copy's address: AWS's page (or its
    # docs), a dated transcription of it, or, where no copy of AWS's page showed the figure,
    # the secondary page, saying so in bold.
    prices = DOC.read_text().split("## Prices", 1)[1]
    rows = [line for line in prices.splitlines() if line.startswith("| ") and "https://aws.amazon.com/" in line]
    assert len(rows) >= len({price.page for price in PRICES.values()})
    for row in rows:
        source = row.rstrip(" |").rsplit(" | ", 1)[1]
        assert "https://" in source, row
        kinds = ("aws.amazon.com", "transcription of AWS's page", "**Not from AWS's page**")
        assert any(kind in source for kind in kinds), row


def test_the_figures_follow_the_template(pipeline_synth: PipelineSynth) -> None:
    template = pipeline_synth.stages[ENVIRONMENT].template_json
    base = {row.item: row.per_volume for row in compute(template, None)}

    doubled: dict[str, Any] = copy.deepcopy(template)
    untraced: dict[str, Any] = copy.deepcopy(template)
    for changed in (doubled, untraced):
        for resource in changed["Resources"].values():
            if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get("MemorySize", 0) >= 256:
                if changed is doubled:
                    resource["Properties"]["MemorySize"] *= 2
                else:
                    resource["Properties"].pop("TracingConfig", None)
    more = {row.item: row.per_volume for row in compute(doubled, None)}
    fewer = {row.item: row.per_volume for row in compute(untraced, None)}

    # Above the free tier, twice the memory is twice the compute; without tracing, no X-Ray.
    assert more["Lambda compute"][-1] > 2 * base["Lambda compute"][-1] * 0.99
    assert "X-Ray traces" in base
    assert "X-Ray traces" not in fewer
    # Requests cost what the volume says: $1 per million at the HTTP API.
    assert base["HTTP API requests"] == tuple(volume / 1e6 for volume in VOLUMES)
    assert access_log_line_bytes(template, 20) > 100  # the JSON access log's fields were read
