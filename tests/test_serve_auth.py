"""Who may use the gateway: bearer keys, the page's session cookie, `--no-auth`, CORS;
against a real uvicorn on 127.0.0.1 (a minimal app around the KEYS middleware)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from talkline.serve.keys import create_key
from talkline.store import ConversationStore

from .keys_app import build_app, serving


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore(tmp_path / "talkline.db") as s:
        yield s


@pytest.fixture
def gateway(store: ConversationStore) -> Iterator[str]:
    with serving(build_app(store)) as url:
        yield url


def assert_401(response: httpx.Response, *, secret: str | None = None) -> str:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error", "invalid_api_key", None)
    assert error["message"].startswith("Incorrect API key provided")
    assert "talkline serve keys add NAME" in error["message"]
    assert "Traceback" not in response.text
    if secret is not None:
        assert secret not in response.text
    return str(error["message"])


def test_no_key_gets_the_openai_401_that_says_how_to_send_one(gateway: str):
    message = assert_401(httpx.get(f"{gateway}/whoami"))
    assert "none was sent" in message and "Authorization: Bearer <key>" in message


def test_a_wrong_key_gets_the_401_without_the_key_echoed(gateway: str, store):
    create_key(store, "alice")
    for wrong in ("tlg-not-a-key-at-all-0000000000000000000000000", "sk-test-wrong-1234",
                  "x" * 5000):
        r = httpx.get(f"{gateway}/whoami", headers={"Authorization": f"Bearer {wrong}"})
        message = assert_401(r, secret=wrong[:40])
        assert "not a key of this gateway" in message and "ask the gateway's owner" in message


def test_the_right_key_passes_and_names_its_owner(gateway: str, store):
    _, alice = create_key(store, "alice")
    _, bob = create_key(store, "bob")
    for token, name in ((alice, "alice"), (bob, "bob")):
        r = httpx.get(f"{gateway}/whoami", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json() == {"name": name}


def test_a_removed_key_is_refused_at_once(gateway: str, store):
    _, token = create_key(store, "alice")
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{gateway}/whoami", headers=headers).status_code == 200
    assert store.remove_gateway_key("alice")
    assert_401(httpx.get(f"{gateway}/whoami", headers=headers), secret=token)


def test_healthz_and_login_are_public_everything_else_is_not(gateway: str):
    assert httpx.get(f"{gateway}/healthz").json() == {"ok": True}
    assert httpx.post(f"{gateway}/login", json={"key": "nope"}).status_code == 401
    assert_401(httpx.post(f"{gateway}/v1/chat/completions", json={}))
    assert_401(httpx.get(f"{gateway}/v1/models"))  # even a route that does not exist


def test_the_official_sdk_sees_an_authentication_error(gateway: str):
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key="sk-test-wrong-sdk-1234",
                           max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert "sk-test-wrong-sdk-1234" not in str(caught.value)


def test_login_sets_a_strict_httponly_session_cookie_that_is_not_the_key(gateway: str, store):
    _, token = create_key(store, "alice")
    r = httpx.post(f"{gateway}/login", json={"key": token})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    parts = [p.strip() for p in cookie.split(";")]
    name, _, value = parts[0].partition("=")
    assert name == "talkline_session" and value and value != token and token not in cookie
    flags = {p.split("=")[0].lower(): p.partition("=")[2] for p in parts[1:]}
    assert "httponly" in flags and flags["samesite"].lower() == "strict"
    assert flags["path"] == "/"
    assert "secure" not in flags  # plain http on loopback: a Secure cookie would not be sent
    with httpx.Client(base_url=gateway) as browser:
        browser.cookies.set("talkline_session", value)
        assert browser.get("/whoami").json() == {"name": "alice"}
        out = browser.post("/logout")
        assert 'talkline_session=""' in out.headers["set-cookie"]
        assert "Max-Age=0" in out.headers["set-cookie"]
        browser.cookies.set("talkline_session", value)  # replayed after logout
        assert_401(browser.get("/whoami"))


def test_a_session_ends_with_its_key_and_a_forged_one_is_refused(gateway: str, store):
    _, token = create_key(store, "alice")
    value = httpx.post(f"{gateway}/login", json={"key": token}).cookies["talkline_session"]
    cookies = {"talkline_session": value}
    assert httpx.get(f"{gateway}/whoami", cookies=cookies).status_code == 200
    message = assert_401(httpx.get(f"{gateway}/whoami",
                                   cookies={"talkline_session": value[:-2] + "xx"}))
    assert "not a key of this gateway" in message
    store.remove_gateway_key("alice")
    assert_401(httpx.get(f"{gateway}/whoami", cookies=cookies))


def test_the_session_expires(store):
    now = [1_000_000.0]
    _, token = create_key(store, "alice")
    with serving(build_app(store, clock=lambda: now[0])) as url:
        value = httpx.post(f"{url}/login", json={"key": token}).cookies["talkline_session"]
        assert httpx.get(f"{url}/whoami", cookies={"talkline_session": value}).is_success
        now[0] += 30 * 24 * 3600 + 1
        assert_401(httpx.get(f"{url}/whoami", cookies={"talkline_session": value}))


def test_no_auth_makes_every_request_the_owner(store):
    with serving(build_app(store, no_auth=True)) as url:
        assert httpx.get(f"{url}/whoami").json() == {"name": "owner"}
        r = httpx.get(f"{url}/whoami", headers={"Authorization": "Bearer sk-test-anything"})
        assert r.json() == {"name": "owner"}


# ---------------------------------------------------------------- CORS

ORIGIN = "http://localhost:3000"


def preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(f"{url}/v1/chat/completions", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})


def test_cors_is_off_by_default(gateway: str, store):
    _, token = create_key(store, "alice")
    r = httpx.get(f"{gateway}/whoami", headers={"Origin": ORIGIN,
                                                 "Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in preflight(gateway, ORIGIN).headers


def test_cors_allows_exactly_the_given_origins_without_credentials(store):
    _, token = create_key(store, "alice")
    with serving(build_app(store, cors=(ORIGIN, "https://app.example.com/"))) as url:
        ok = preflight(url, ORIGIN)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ORIGIN
        allowed = {h.strip().lower() for h in ok.headers["access-control-allow-headers"]
                   .split(",")}
        assert {"authorization", "content-type"} <= allowed
        assert "access-control-allow-credentials" not in ok.headers
        r = httpx.get(f"{url}/whoami", headers={"Origin": "https://app.example.com",
                                                "Authorization": f"Bearer {token}"})
        assert r.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = httpx.get(f"{url}/whoami", headers={"Origin": "https://evil.example",
                                                      "Authorization": f"Bearer {token}"})
        assert "access-control-allow-origin" not in refused.headers
        assert preflight(url, "https://evil.example").status_code == 400
        denied = httpx.get(f"{url}/whoami", headers={"Origin": ORIGIN})
        assert denied.status_code == 401  # a browser can read the 401: it has CORS headers
        assert denied.headers["access-control-allow-origin"] == ORIGIN


def test_a_cors_value_that_is_not_an_origin_says_what_to_give():
    from talkline.errors import ConfigError
    from talkline.serve.cors import check_origins

    assert check_origins([" http://localhost:3000/ ", "http://localhost:3000"]) == (ORIGIN,)
    for bad in ("*", "localhost:3000", "http://host/path", "ftp://host", "http://", "null",
                "http://u:p@host", "http://host:99999"):
        with pytest.raises(ConfigError) as caught:
            check_origins([bad])
        assert "is not a web origin" in caught.value.message
        assert "--cors http://localhost:3000" in str(caught.value.hint)


def test_a_key_store_that_cannot_be_read_is_a_503_not_a_traceback(tmp_path: Path, caplog):
    store = ConversationStore(tmp_path / "talkline.db")
    _, token = create_key(store, "alice")
    with serving(build_app(store)) as url:
        store.close()
        r = httpx.get(f"{url}/whoami", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    error = r.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "key_store_unavailable")
    assert error["message"].startswith("The gateway cannot check keys just now: ")
    assert "Try again in a moment" in error["message"] and "gateway's log" in error["message"]
    assert str(tmp_path) not in r.text and token not in r.text and "Traceback" not in r.text
    assert "is closed" in caplog.text  # the owner is told why
