"""`talkline serve` against the scripted server upstream, spoken to over plain HTTP: the
checked body, the limits, a client that leaves, a stream that breaks, two clients on one
upstream rate limit, routing to `[servers.NAME]`, and the refusals' wording."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from talkline.testing import Fault, Reply, ScriptedServer

from .clihelp import SRC, run
from .gatewayhelp import CLIENT_KEY, UPSTREAM_KEY, gateway, gateway_env

HEADERS = {"authorization": f"Bearer {CLIENT_KEY}"}
HI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def post(url: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + "/chat/completions", content=content, timeout=20,
                      headers={**HEADERS, "content-type": "application/json",
                               **(headers or {})})


def error_of(resp: httpx.Response) -> dict[str, object]:
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err: dict[str, object] = body["error"]
    return err


@pytest.mark.parametrize(("body", "param", "words"), [
    (b"{not json", None, "send a JSON object such as"),
    ([1, 2], None, "must be a JSON object, not a JSON list"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "model", "'model' is required"),
    ({"model": "gpt-4o-mini"}, "messages", "'messages' is required: a non-empty list"),
    ({"model": "gpt-4o-mini", "messages": []}, "messages", "'messages' is required"),
    ({"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]},
     "messages[0]", "messages[0].role must be one of system, developer, user"),
    ({**HI, "temperature": 9}, None, "temperature must be between 0 and 2"),
    ({**HI, "stream": "yes"}, "stream", "'stream' must be true or false"),
])
def test_a_wrong_body_is_a_400_that_says_what_to_send(server, body, param, words):
    with gateway(server.url, "--no-auth") as gw:
        resp = post(gw.url, body)
    assert resp.status_code == 400
    err = error_of(resp)
    assert err["type"] == "invalid_request_error" and err["param"] == param
    assert words in str(err["message"])
    assert server.chat_requests == []


def test_a_body_over_the_limit_is_a_413_and_nothing_is_sent(server):
    big = {**HI, "messages": [{"role": "user", "content": "x" * (9 << 20)}]}
    with gateway(server.url, "--no-auth") as gw:
        resp = post(gw.url, big)
        after = post(gw.url, HI)
    assert resp.status_code == 413
    err = error_of(resp)
    assert err["code"] == "request_too_large"
    assert "send fewer or shorter messages" in str(err["message"])
    assert after.status_code == 200  # the gateway is still there
    assert len(server.chat_requests) == 1


def test_no_auth_on_an_open_host_is_refused():
    r = run("serve", "--host", "0.0.0.0", "--port", "0", "--no-auth", env=gateway_env(None))
    assert r.code == 2
    assert "--no-auth is refused on 0.0.0.0" in r.err
    assert "Use --no-auth only with --host 127.0.0.1" in r.err
    assert "talkline serve keys add NAME" in r.err
    assert "Traceback" not in r.err


def test_a_client_that_disconnects_cancels_the_upstream_request(server):
    server.script(Reply("word " * 200, chunk_size=5, chunk_delay=0.05))
    with gateway(server.url, "--no-auth") as gw:
        with httpx.stream("POST", gw.url + "/chat/completions", json={**HI, "stream": True},
                          headers=HEADERS, timeout=20) as resp:
            lines = resp.iter_lines()
            first = next(line for line in lines if line.startswith("data:"))
        assert "chat.completion.chunk" in first
        deadline = time.monotonic() + 5
        while server.stats.get("gone", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert server.stats.get("gone", 0) == 1  # the upstream saw its connection closed
    listed = run("history", "list", env=gateway_env(None))
    assert listed.code == 0 and "hi" in listed.out


def test_a_stream_that_breaks_after_content_ends_with_an_error_event(server):
    server.script(Fault.cut_after(2))
    with gateway(server.url, "--no-auth") as gw:
        with httpx.stream("POST", gw.url + "/chat/completions", json={**HI, "stream": True},
                          headers=HEADERS, timeout=20) as resp:
            events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert resp.status_code == 200
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["code"] == "stream_interrupted"
    assert "Stream interrupted after" in last["error"]["message"]
    assert len(server.chat_requests) == 1  # not restarted once bytes went out


def test_an_upstream_that_is_down_is_a_502_naming_it():
    with ScriptedServer() as gone:
        url = gone.url
    with gateway(url, "--no-auth") as gw:
        resp = post(gw.url, HI)
    assert resp.status_code == 502
    err = error_of(resp)
    assert err["code"] == "upstream_unreachable"
    assert "could not reach the upstream server 127.0.0.1" in str(err["message"])
    assert "Traceback" not in gw.stderr


def test_two_clients_at_once_share_one_upstream_rate_limit():
    # 600 RPM upstream: a bucket of 10 requests refilled at 10 a second. Two clients send
    # 20 each, 4 at a time: the gateway's one limiter, taught by the x-ratelimit headers,
    # paces all 40 together, so the upstream refuses almost none.
    with ScriptedServer(rpm=600) as up, gateway(up.url, "--no-auth") as gw:
        def client(_: int) -> list[int]:
            with httpx.Client(headers=HEADERS, timeout=30) as c, ThreadPoolExecutor(4) as pool:
                return list(pool.map(
                    lambda i: c.post(gw.url + "/chat/completions", json=HI).status_code,
                    range(20)))

        start = time.monotonic()
        with ThreadPoolExecutor(2) as both:
            codes = [code for batch in both.map(client, range(2)) for code in batch]
        elapsed = time.monotonic() - start
        stats = up.stats
    assert codes == [200] * 40
    assert stats.get("429", 0) <= 3, stats  # almost none: the limit was shared
    assert elapsed >= 2.5  # 40 requests at 10 a second after a burst of 10


def test_a_model_mapped_to_a_server_goes_there_with_that_servers_key(talkline_home):
    with ScriptedServer() as default, ScriptedServer() as groq:
        groq.models = ["llama-3.3-70b", "mixtral"]
        (talkline_home / "config.toml").write_text(
            f'[servers.groq]\nbase_url = "{groq.url}"\nkey_env = "GROQ_TEST_KEY"\n'
            'models = ["llama-3.3-70b"]\n')
        env = {"GROQ_TEST_KEY": "sk-test-groq-0003"}
        with gateway(default.url, "--no-auth", env=env) as gw:
            routed = post(gw.url, {**HI, "model": "llama-3.3-70b"})
            other = post(gw.url, HI)
            listed = httpx.get(gw.url + "/models", headers=HEADERS).json()
        assert routed.status_code == 200 and other.status_code == 200
        assert groq.chat_requests[0].headers["authorization"] == "Bearer sk-test-groq-0003"
        assert default.chat_requests[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        assert [r.body["model"] for r in groq.chat_requests] == ["llama-3.3-70b"]
        ids = [m["id"] for m in listed["data"]]
        assert {"llama-3.3-70b", "mixtral", "gpt-4o-mini", "gpt-4o", "local"} <= set(ids)
        shown = run("config", "show", env=gateway_env(default.url, **env))
        assert shown.code == 0 and "GROQ_TEST_KEY" in shown.out and groq.url in shown.out
        assert "sk-test-groq-0003" not in shown.out


def test_a_server_whose_key_variable_is_unset_is_refused_at_start(talkline_home):
    (talkline_home / "config.toml").write_text(
        '[servers.groq]\nbase_url = "http://127.0.0.1:9/v1"\nkey_env = "GROQ_UNSET_KEY"\n')
    r = run("serve", "--port", "0", "--no-auth", env=gateway_env(None))
    assert r.code == 2
    assert "[servers.groq] reads its key from GROQ_UNSET_KEY, which is not set" in r.err
    assert "export GROQ_UNSET_KEY=..." in r.err


def test_a_wrong_server_table_names_the_field(talkline_home):
    (talkline_home / "config.toml").write_text(
        '[servers.groq]\nbase_url = "http://127.0.0.1:9/v1"\nkey = "sk-test-x"\n')
    r = run("serve", "--port", "0", "--no-auth", env=gateway_env(None))
    assert r.code == 2
    assert "Unknown field 'key' in [servers.groq]" in r.err
    assert "base_url, key_env, key_name, models" in r.err
    assert "sk-test-x" not in r.err


def test_context_fitting_is_off_unless_asked_and_a_wrong_value_says_the_choices(server):
    with gateway(server.url, "--no-auth") as gw:
        wrong = post(gw.url, HI, headers={"x-talkline-context": "squeeze"})
    assert wrong.status_code == 400
    assert "x-talkline-context must be one of off, truncate, error" in \
        str(error_of(wrong)["message"])


def test_many_streams_at_once_all_complete(server):
    server.default = Reply("a b c d e f", chunk_delay=0.01)
    with gateway(server.url, "--no-auth") as gw:
        done: list[str] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            with httpx.stream("POST", gw.url + "/chat/completions",
                              json={**HI, "stream": True}, headers=HEADERS, timeout=30) as r:
                text = "".join(r.iter_text())
            with lock:
                done.append(text)

        with ThreadPoolExecutor(20) as pool:
            list(pool.map(one, range(20)))
    assert len(done) == 20 and all(t.rstrip().endswith("data: [DONE]") for t in done)


def test_without_the_serve_extra_the_command_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "blocked"
    (blocker / "starlette").mkdir(parents=True)
    (blocker / "starlette" / "__init__.py").write_text("raise ImportError('not installed')\n")
    r = run("serve", "--port", "0", "--no-auth",
            env=gateway_env(None, PYTHONPATH=f"{blocker}{os.pathsep}{SRC}"))
    assert r.code == 2
    assert "talkline serve needs the serve extra: pip install 'talkline[serve]'" in r.err
    assert "Traceback" not in r.err
