"""The Python snippets of the README and docs/ run as written (against the test agent
instead of the demo's), each file's snippets in order in one namespace."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from conftest import Agent

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "PARSER.md"]


def snippets(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_doc_snippets_run(agent: Agent, path: Path) -> None:
    blocks = snippets(path)
    assert blocks, f"{path.name} has Python snippets"
    namespace: dict[str, object] = {"__name__": "__doc__"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for block in blocks:
            exec(compile(block.replace(":11161", f":{agent.port}"), str(path), "exec"), namespace)
    printed = output.getvalue()
    assert "failed" not in printed and "Error" not in printed, printed
    if path.name == "README.md":
        assert printed.count("\n") >= 8, printed
