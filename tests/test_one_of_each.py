"""Rules written once: the token estimate, the context strategies, the local model's name."""

from __future__ import annotations

import ast
from pathlib import Path

from talkline.batch._records import _prompt_tokens
from talkline.estimate import HIGH_BYTES_PER_TOKEN, estimate_prompt, estimate_text
from talkline.planning.context import STRATEGIES
from talkline.planning.estimates import Estimator
from talkline.settings import LOCAL_MODEL, Settings
from talkline.settings.defaults import CONTEXT_STRATEGIES

SRC = Path(__file__).resolve().parents[1] / "src" / "talkline"


def test_the_estimate() -> None:
    assert [estimate_text(t) for t in ("", "abcd", "abcde", "é" * 4)] == [0, 1, 2, 2]
    assert estimate_prompt(["abcd", ""]) == 3 + (4 + 1) + (4 + 0)
    assert estimate_text("abcdef", HIGH_BYTES_PER_TOKEN) == 2
    # the token counter's uncalibrated estimate and the batch runner's worst case are it
    assert Estimator().estimate("abcde" * 7) == estimate_text("abcde" * 7)
    messages = [{"role": "user", "content": "question 00"},
                {"role": "user", "content": [{"type": "text", "text": "Grüße"}]}]
    assert _prompt_tokens(messages) == estimate_prompt(["question 00", "Grüße"],
                                                       HIGH_BYTES_PER_TOKEN)


def test_one_list_of_context_strategies() -> None:
    import click

    from talkline.cli.commands.options import request_options

    assert STRATEGIES is CONTEXT_STRATEGIES == ("truncate", "summarize", "error")
    assert Settings().context_strategy in CONTEXT_STRATEGIES
    # The CLI writes the list out (importing talkline.types would cost `--help` a third of
    # its start-up time): it must be the same list.
    command = click.command()(request_options(lambda **kwargs: None))
    option = next(p for p in command.params if p.name == "context_strategy")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == CONTEXT_STRATEGIES


def test_one_name_for_the_local_model() -> None:
    assert Settings().is_local_model(LOCAL_MODEL)
    written = []
    for path in SRC.rglob("*.py"):
        if path.name == "defaults.py" or "cli" in path.parts:  # cli: the `local` command
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "local":
                written.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert written == [], written
