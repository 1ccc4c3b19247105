"""Structured output offline: with the embedded model the schema becomes llama.cpp's
grammar, so `talkline -m local --schema 'city, country'` and `Client(model="local")` with
`schema=` give JSON valid against the schema in 10 of 10 runs at temperature 1."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from talkline.schema import structured

from .localmodel import require_model
from .test_local_cli import offline_cmd, offline_env

pytestmark = pytest.mark.local
require_model()

SCHEMA = structured("city, country").schema


def test_the_command_gives_valid_json_ten_times_at_temperature_1(talkline_home: Path) -> None:
    for seed in range(10):
        proc = subprocess.run(
            offline_cmd("-m", "local", "-t", "1", "--seed", str(seed), "--no-log",
                        "--schema", "city, country", "Name a city and its country"),
            capture_output=True, text=True, env=offline_env(talkline_home), timeout=240)
        assert proc.returncode == 0, proc.stderr
        jsonschema.validate(json.loads(proc.stdout), SCHEMA)


def test_the_library_gives_valid_json_ten_times_at_temperature_1() -> None:
    from talkline import Client

    with Client(model="local") as client:
        for seed in range(10):
            reply = client.complete("Name a city and its country", schema="city, country",
                                    temperature=1, seed=100 + seed)
            jsonschema.validate(reply.parsed, SCHEMA)
            assert reply.parsed == json.loads(reply.content)
