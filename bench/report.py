"""The figures of the latest `make bench`, written into docs/performance.md between two markers.

Figures a command produces live in the file that command writes: `make bench` replaces the
section between the markers with the run's machine and table, and nothing else of the page.
`python -m bench.report` writes it again from a results file (bench/results/latest.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.assets import ROOT

PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "bench" / "results" / "latest.json"
BEGIN = "<!-- BEGIN make bench: written by bench/run.py (bench/report.py), do not edit -->"
END = "<!-- END make bench -->"


def figures_markdown(result: Mapping[str, Any]) -> str:
    """The run's machine in one paragraph, then its table, as the section between the markers."""
    machine = result["machine"]
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    others = "; ".join(f"Python {o['python']} (`{o['executable']}`)" for o in result.get("other_pythons", []))
    start, end = machine["load_average_at_start"][0], machine.get("load_average_at_end", [float("nan")])[0]
    minutes = result["duration_seconds"] / 60
    paragraph = (
        f"Latest run ({'`--quick`, not a measurement; ' if result['quick'] else ''}"
        f"started {result['started']}, {minutes:.0f} minutes): {machine['nproc']} CPUs (`nproc`), "
        f"{machine['cpu_model']}, Python {machine['python']} ({machine['implementation']}, "
        f"{machine['architecture']}) running the bench and the synth"
        f"{f'; for rows of their own, {others}' if others else ''}; {machine['system']}; "
        f"load generator {machine['load_generator'].split(' Copyright')[0]}; load average {start:.1f} at the start, "
        f"{end:.1f} at the end; {packages}."
    )
    return f"{paragraph}\n\n```\n{result['table']}\n```"


def write_section(doc: Path, section: str) -> None:
    """Replace what lies between the markers in `doc` with `section`; the rest stays as it is."""
    text = doc.read_text()
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise ValueError(f"{doc}: the markers {BEGIN!r} and {END!r} are missing or out of order")
    doc.write_text(f"{text[: begin + len(BEGIN)]}\n{section}\n{text[end:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    parser.add_argument("--doc", type=Path, default=PERFORMANCE_DOC, help=f"the page (default {PERFORMANCE_DOC})")
    args = parser.parse_args(argv)
    write_section(args.doc, figures_markdown(json.loads(args.results.read_text())))
    print(f"Figures of {args.results} written into {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
