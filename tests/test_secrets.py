"""A canary key must never show up in output, files (but the key file) or error text."""

from __future__ import annotations

import os
import stat

import pytest

from talkline.testing import Error, Fault, Reply

from .clihelp import run

CANARY = "sk-canary-DO-NOT-LEAK-7f3a9c1e5b"


def test_canary_key_appears_nowhere(server, talkline_home):
    env = {"OPENAI_BASE_URL": server.url}
    r = run("keys", "set", "openai", input=CANARY + "\n", env=env)
    assert r.code == 0
    outputs = [r]
    # The server echoes the key in an error message, as some gateways do.
    server.script(
        Reply("fine"),
        Error(
            401,
            f"Incorrect API key provided: {CANARY}.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        Error(500, f"internal error while handling key {CANARY}"),
        Fault.cut_after(1),
        Fault.cut_after(1),
        Fault.cut_after(1),
    )
    commands = [
        ("hi",),
        ("hi",),
        ("--retries", "0", "hi"),
        ("hi",),
        ("--json", "hi"),
        ("-u", "hi"),
        ("config", "show"),
        ("config", "show", "--json"),
        ("config", "path"),
        ("keys", "list"),
        ("keys", "path"),
        ("models",),
        ("--help",),
        ("prompt", "--help"),
        (
            "--key",
            CANARY,
            "--base-url",
            "http://203.0.113.1:1/v1",
            "--retries",
            "0",
            "config",
            "show",
        ),
    ]
    for args in commands:
        outputs.append(run(*args, env=env))
    outputs.append(
        run(
            "--key",
            CANARY,
            "--retries",
            "0",
            "hi",
            env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
        )
    )
    for result in outputs:
        assert CANARY not in result.out
        assert CANARY not in result.err
        assert CANARY[8:] not in result.err
    # The key did reach the server (it was used) ...
    assert any(CANARY in r.headers.get("authorization", "") for r in server.chat_requests)
    # ... and lies in no file but the 0600 key file.
    key_file = talkline_home / "keys.json"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    for path in talkline_home.rglob("*"):
        if path.is_file() and path != key_file:
            assert CANARY.encode() not in path.read_bytes(), path


def test_api_error_objects_do_not_carry_the_key(server):
    from talkline.backends.base import ChatRequest
    from talkline.backends.remote import RemoteBackend
    from talkline.errors import AuthenticationError
    from talkline.types import ChatParams, Message

    server.script(Error(401, f"bad key {CANARY}", "invalid_request_error", "invalid_api_key"))
    backend = RemoteBackend(server.url, CANARY)
    try:
        with pytest.raises(AuthenticationError) as info:
            backend.complete(ChatRequest((Message("user", "x"),), ChatParams(model="m")))
    finally:
        backend.close()
    err = info.value
    assert CANARY not in str(err) and CANARY not in repr(err.body) and CANARY not in repr(err)
