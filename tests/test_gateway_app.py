"""The gateway's app in this process (uvicorn in a thread on 127.0.0.1), for what a test
must reach inside: the catch-all 500, and a budget refusal of a real gateway key."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn

from talkline.serve.app import GatewayConfig, create_app
from talkline.serve.keys import create_key
from talkline.serve.upstreams import Upstreams
from talkline.settings import Settings
from talkline.store import ConversationStore

from .gatewayhelp import UPSTREAM_KEY

HI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@contextmanager
def served(config: GatewayConfig) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def config_for(server_url: str) -> GatewayConfig:
    settings = Settings.resolve(base_url=server_url, api_key=UPSTREAM_KEY)
    return GatewayConfig(settings=settings, no_auth=True)


def test_an_unexpected_failure_is_a_500_without_its_text_and_logged_by_type(
        server, monkeypatch, caplog):
    def broken(self: Upstreams, model: str) -> object:
        raise RuntimeError("sk-test-secret-in-a-bug at /srv/talkline/x.py line 3")

    monkeypatch.setattr(Upstreams, "for_model", broken)
    caplog.set_level(logging.ERROR, logger="talkline.serve")
    with served(config_for(server.url)) as url:
        resp = httpx.post(url + "/chat/completions", json=HI, timeout=10)
        health = httpx.get(url.removesuffix("/v1") + "/healthz", timeout=10)
    assert resp.status_code == 500
    err = resp.json()["error"]
    assert err["type"] == "server_error"
    assert "its log names the error" in err["message"]
    assert "sk-test" not in resp.text and "Traceback" not in resp.text
    logged = [r.getMessage() for r in caplog.records]
    assert logged == ["500 on POST /v1/chat/completions: RuntimeError"]
    assert health.json() == {"status": "ok"}


def test_a_budget_refusal_is_a_429_insufficient_quota_and_nothing_is_sent(server):
    settings = Settings.resolve(base_url=server.url, api_key=UPSTREAM_KEY)
    with ConversationStore.open(settings.paths) as store:
        _, token = create_key(store, "alice", daily=0.0)
    config = GatewayConfig(settings=settings)
    with served(config) as url:
        resp = httpx.post(url + "/chat/completions", json=HI, timeout=10,
                          headers={"authorization": f"Bearer {token}"})
    assert resp.status_code == 429
    err = resp.json()["error"]
    assert err["type"] == "insufficient_quota" and err["code"] == "insufficient_quota"
    assert "daily budget of the gateway key 'alice'" in err["message"]
    assert "talkline serve keys budget alice --daily USD" in err["message"]
    assert resp.headers["x-should-retry"] == "false"
    assert "retry-after" not in resp.headers  # waiting seconds does not help
    assert server.chat_requests == []


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1/chat/completions"])
def test_a_wrong_path_or_method_is_answered_in_the_openai_shape(server, path):
    with served(config_for(server.url)) as url:
        resp = httpx.get(url.removesuffix("/v1") + path, timeout=10)
    assert resp.status_code in (404, 405)
    assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
    if resp.status_code == 404:
        assert "it serves /v1/chat/completions, /v1/responses, /v1/models" in resp.text


def test_an_upstream_error_comes_back_with_its_status_and_message(server):
    from talkline.testing import Error

    server.script(Error.context_length(limit=128000, got=130000))
    with served(config_for(server.url)) as url:
        resp = httpx.post(url + "/chat/completions", json=HI, timeout=10)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "context_length_exceeded"
    assert "128000" in err["message"]


def test_an_upstream_refusing_the_gateways_key_is_a_502_that_names_the_fix(server):
    from talkline.testing import Error

    server.script(Error.invalid_key())
    with served(config_for(server.url)) as url:
        resp = httpx.post(url + "/chat/completions", json=HI, timeout=10)
    assert resp.status_code == 502  # not 401: the client's gateway key was fine
    err = resp.json()["error"]
    assert err["code"] == "upstream_auth_failed"
    assert "refused the gateway's key" in err["message"]
    assert "key_env or key_name in [servers.NAME], or OPENAI_API_KEY" in err["message"]
    assert UPSTREAM_KEY not in resp.text
