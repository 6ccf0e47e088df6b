"""Write one benchmark's section of docs/performance.md, leaving the others as they are."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
PREAMBLE = ("# Performance\n\nMeasured numbers for the parts of Rapport where speed matters, "
            "each section written by\nthe benchmark in `bench/` that produced it. Re-run a "
            "benchmark after changing the code it measures.\n\n")


def write_section(heading: str, body: str, doc: Path = DOC) -> None:
    """Replace the `## heading` section (up to the next `## `) with `body`, or append it."""
    title = "## " + heading.lstrip("# ").strip()
    section = f"{title}\n\n{body.strip()}\n"
    text = doc.read_text(encoding="utf-8") if doc.exists() else PREAMBLE
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        rest = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + rest if rest else "")
    doc.write_text(text, encoding="utf-8")
