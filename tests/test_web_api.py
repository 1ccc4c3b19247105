"""The web page's routes and JSON API, over real HTTP against the real gateway
(`webgateway.py` builds it) on uvicorn, upstream a ScriptedServer, a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from talkline.serve import auth, web  # noqa: E402
from talkline.store import ConversationStore  # noqa: E402
from talkline.testing import ScriptedServer  # noqa: E402
from webgateway import StandInConfig, create_app, running  # noqa: E402

ALICE = "sk-test-gw-alice-1111"
BOB = "sk-test-gw-bob-2222"
KEYS = {ALICE: "alice", BOB: "bob"}
CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'")


@pytest.fixture
def gateway(server: ScriptedServer, tmp_path: Path) -> Iterator[str]:
    config = StandInConfig(store_path=tmp_path / "talkline.db", upstream=server.url)
    with running(create_app(config, KEYS)) as url:
        yield url


def client(url: str, key: str | None = None) -> httpx.Client:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=10)


def send(c: httpx.Client, conversation: str, text: str) -> str:
    """One streamed turn through the gateway, as the page sends it; the reply's text."""
    body = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": text}]}
    got = ""
    with c.stream("POST", "/v1/chat/completions", json=body,
                  headers={web.CONVERSATION_HEADER: conversation}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: {"):
                for choice in json.loads(line[6:])["choices"]:
                    got += (choice.get("delta") or {}).get("content") or ""
    return got


def assert_secured(r: httpx.Response) -> None:
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_every_page_response_has_the_strict_headers(gateway: str) -> None:
    with client(gateway) as c:
        page = c.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'name="message"' in page.text
        assert "<script>" not in page.text and "style=" not in page.text  # nothing inline
        for r in (page, c.get("/static/app.js"), c.get("/static/vendor/markdown-it.min.js"),
                  c.get("/static/missing.js"), c.get("/api/session"),
                  c.post("/login", json={"key": "nope"})):
            assert_secured(r)
        assert c.get("/static/missing.js").status_code == 404


def test_login_sets_an_httponly_strict_cookie_and_refuses_a_wrong_key(gateway: str) -> None:
    with client(gateway) as c:
        wrong = c.post("/login", json={"key": "sk-test-not-a-key"})
        assert wrong.status_code == 401
        message = wrong.json()["error"]["message"]
        assert "not accepted" in message and "talkline serve keys add NAME" in message
        assert "set-cookie" not in wrong.headers
        empty = c.post("/login", data={"key": "  "})
        assert empty.status_code == 400
        assert "Paste your gateway key" in empty.json()["error"]["message"]
        assert "talkline serve keys add NAME" in empty.json()["error"]["message"]
        assert c.get("/api/session").status_code == 401
        ok = c.post("/login", data={"key": ALICE})
        assert ok.status_code == 200
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{auth.COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        assert c.get("/api/session").json() == {"name": "alice", "whole_store": False}
        c.post("/logout")
        c.cookies.clear()
        assert c.get("/api/session").status_code == 401


def test_the_api_without_a_key_says_how_to_log_in(gateway: str) -> None:
    with client(gateway) as c:
        for r in (c.get("/api/conversations"), c.post("/api/conversations", json={}),
                  c.get("/api/conversations/X"), c.post("/api/conversations/X/retry")):
            assert r.status_code == 401
            err = r.json()["error"]
            assert "log in on the page with your gateway key" in err["message"]
            assert "Authorization: Bearer" in err["message"]
            assert set(err) == {"message", "type", "param", "code"}


def test_a_key_sees_and_continues_only_its_own_conversations(gateway: str) -> None:
    with client(gateway, ALICE) as alice, client(gateway, BOB) as bob:
        conv = alice.post("/api/conversations", json={"model": "gpt-4o-mini",
                                                      "system": "Be brief."})
        assert conv.status_code == 201
        cid = conv.json()["id"]
        assert send(alice, cid, "hello pelican") == "Echo: hello pelican"
        assert send(alice, cid, "and a heron") == "Echo: and a heron"
        listed = alice.get("/api/conversations").json()["data"]
        assert [c["id"] for c in listed] == [cid] and listed[0]["title"] == "hello pelican"
        assert listed[0]["system"] == "Be brief."
        got = alice.get(f"/api/conversations/{cid}").json()
        assert [(m["role"], m["content"], m["status"]) for m in got["messages"]] == [
            ("user", "hello pelican", "complete"), ("assistant", "Echo: hello pelican", "complete"),
            ("user", "and a heron", "complete"), ("assistant", "Echo: and a heron", "complete")]
        assert got["messages"][1]["completion_tokens"] and got["messages"][1]["cost"] is not None
        # Bob sees none of it, and cannot write into it.
        assert bob.get("/api/conversations").json()["data"] == []
        for r in (bob.get(f"/api/conversations/{cid}"), bob.post(f"/api/conversations/{cid}/retry"),
                  bob.get("/api/conversations/NOSUCHID")):
            assert r.status_code == 404
            assert "start a new chat" in r.json()["error"]["message"]
        refused = bob.post("/v1/chat/completions", headers={web.CONVERSATION_HEADER: cid},
                           json={"model": "gpt-4o-mini", "stream": True,
                                 "messages": [{"role": "user", "content": "mine now"}]})
        assert refused.status_code == 404
        assert len(alice.get(f"/api/conversations/{cid}").json()["messages"]) == 4


def test_search_finds_by_words_of_the_messages_and_by_title(gateway: str) -> None:
    with client(gateway, ALICE) as alice:
        first = alice.post("/api/conversations", json={}).json()["id"]
        second = alice.post("/api/conversations", json={}).json()["id"]
        send(alice, first, "tell me about pelicans")
        send(alice, second, "100% of herons_wade")

        def found(q: str) -> list[str]:
            listed = alice.get("/api/conversations", params={"q": q}).json()["data"]
            return [c["id"] for c in listed]

        assert found("pelicans") == [first]
        assert found("herons") == [second]
        assert found("100%") == [second]  # LIKE's wildcards are literal text
        assert found('"unbalanced AND NEAR(') == []
        assert set(found("")) == {first, second}


def test_retry_moves_back_before_the_last_question(gateway: str) -> None:
    with client(gateway, ALICE) as alice:
        cid = alice.post("/api/conversations", json={}).json()["id"]
        nothing = alice.post(f"/api/conversations/{cid}/retry")
        assert nothing.status_code == 409
        assert "send a message first" in nothing.json()["error"]["message"]
        send(alice, cid, "one")
        send(alice, cid, "two")
        r = alice.post(f"/api/conversations/{cid}/retry").json()
        assert r["retry"]["content"] == "two"
        assert [m["content"] for m in r["messages"]] == ["one", "Echo: one"]
        send(alice, cid, "two")
        path = alice.get(f"/api/conversations/{cid}").json()["messages"]
        assert [m["content"] for m in path] == ["one", "Echo: one", "two", "Echo: two"]


def test_a_bad_new_chat_body_is_refused_with_an_example(gateway: str) -> None:
    with client(gateway, ALICE) as alice:
        for body in (b"[1]", b"{not json"):
            r = alice.post("/api/conversations", content=body,
                           headers={"content-type": "application/json"})
            assert r.status_code == 400 and '{"model": "gpt-4o-mini"}' in r.json()["error"][
                "message"]
        r = alice.post("/api/conversations", json={"model": 5})
        assert r.status_code == 400 and r.json()["error"]["param"] == "model"
        assert alice.get("/api/conversations").json()["data"] == []


def test_the_owner_without_auth_sees_the_whole_store(server: ScriptedServer,
                                                     tmp_path: Path) -> None:
    db = tmp_path / "talkline.db"
    with running(create_app(StandInConfig(db, server.url), KEYS)) as url, \
            client(url, ALICE) as alice:
        cid = alice.post("/api/conversations", json={}).json()["id"]
        send(alice, cid, "alice's secret")
    with running(create_app(StandInConfig(db, server.url, no_auth=True), {})) as url, \
            client(url) as owner:
        assert owner.get("/api/session").json() == {"name": "owner", "whole_store": True}
        assert [c["id"] for c in owner.get("/api/conversations").json()["data"]] == [cid]
        assert owner.get(f"/api/conversations/{cid}").status_code == 200


def test_the_upstream_key_is_used_upstream_and_the_gateway_key_is_not(
        gateway: str, server: ScriptedServer) -> None:
    with client(gateway, ALICE) as alice:
        cid = alice.post("/api/conversations", json={}).json()["id"]
        send(alice, cid, "hi")
    seen = [r.headers.get("authorization", "") for r in server.requests]
    assert seen and all(ALICE not in h for h in seen)


def test_a_store_that_cannot_be_opened_gets_a_clear_503(tmp_path: Path) -> None:
    from starlette.applications import Starlette

    folder = tmp_path / "not-a-database"
    folder.mkdir()
    config = StandInConfig(store_path=folder, upstream="http://127.0.0.1:9/v1", no_auth=True)
    keys = ConversationStore(tmp_path / "keys.db")  # the keys' store opens; the page's not
    app = Starlette(routes=web.routes(config),
                    middleware=[auth.auth_middleware(keys, no_auth=True)])
    app.state.config = config
    with running(app) as url, client(url) as c:
        r = c.get("/api/conversations")
        assert r.status_code == 503
        err = r.json()["error"]
        assert err["code"] == "store_unavailable" and "Traceback" not in r.text
        assert str(folder) in err["message"]
        assert_secured(r)


def test_a_post_from_another_site_is_refused(gateway: str) -> None:
    with client(gateway, ALICE) as alice:
        evil = {"origin": "http://evil.invalid"}
        for r in (alice.post("/login", json={"key": ALICE}, headers=evil),
                  alice.post("/api/conversations", json={}, headers=evil),
                  alice.post("/api/conversations/X/retry", headers=evil)):
            assert r.status_code == 403
            assert "use the chat page this gateway serves" in r.json()["error"]["message"]
            assert_secured(r)
        assert alice.get("/api/conversations").json()["data"] == []
        same = alice.post("/api/conversations", json={}, headers={"origin": gateway})
        assert same.status_code == 201
