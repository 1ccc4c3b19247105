"""The README's `schema=` example (the python block after `<!-- test: schema -->`) runs as
written, against the scripted server named by OPENAI_BASE_URL/OPENAI_API_KEY, and the
request it sends carries the strict schema. (The tools work runs every marked block the
same way in tests/test_readme_examples.py; the two are to be folded into one.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from openapi_schema import validate
from talkline.testing import Reply

from .clihelp import SRC

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def block(name: str) -> str:
    match = re.search(rf"<!-- test: {name} -->\n```python\n(.*?)```", README, re.S)
    assert match, f"no python block marked `<!-- test: {name} -->` in README.md"
    return match.group(1)


def test_the_readme_schema_example_runs(server, talkline_home: Path) -> None:
    server.script(Reply('{"city": "Paris", "country": "France", "population": 2100000}'))
    env = {**os.environ, "PYTHONPATH": SRC, "OPENAI_BASE_URL": server.url,
           "OPENAI_API_KEY": "sk-test-readme-schema"}
    proc = subprocess.run([sys.executable, "-c", block("schema")], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Paris 2100000\n"
    (request,) = server.chat_requests
    validate("CreateChatCompletionRequest", request.body)
    fmt = request.body["response_format"]["json_schema"]
    assert fmt["strict"] is True
    assert fmt["schema"]["properties"]["population"] == {"type": "integer"}
