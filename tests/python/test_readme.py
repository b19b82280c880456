"""The README's Python snippets run as written (against the test agent instead of the demo's)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from conftest import Agent

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(agent: Agent, snippet: str) -> None:
    code = snippet.replace(":11161", f":{agent.port}")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    printed = output.getvalue()
    assert printed, "every snippet prints something"
    assert "failed" not in printed and "Error" not in printed, printed


def test_readme_has_the_snippets() -> None:
    assert len(SNIPPETS) >= 3
