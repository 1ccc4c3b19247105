"""The web chat page in a real headless Chromium (Debian's chromium and chromium-driver,
driven by selenium), against the real gateway (`webgateway.py`) on uvicorn and a
ScriptedServer upstream."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("selenium")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

from talkline.testing import Error, Reply, ScriptedServer  # noqa: E402
from webgateway import StandInConfig, create_app, running  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="Chromium is not installed: apt-get install -y chromium chromium-driver "
    "(Debian's packages; .ci/run installs them)",
)

KEY = "sk-test-gw-carol-3333"
KEYS = {KEY: "carol"}
T = TypeVar("T")


def wait(what: Callable[[], T], timeout: float = 15.0) -> T:
    """The first truthy value of `what()`, polled; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = what()
        except Exception as exc:  # e.g. a stale element while the page re-renders
            last = exc
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting; last saw {last!r}")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900", f"--user-data-dir={tmp_path / 'chromium'}",
                "--no-first-run", "--disable-background-networking"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(DRIVER)),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "talkline.db"


@pytest.fixture
def page(server: ScriptedServer, store_path: Path, browser: webdriver.Chrome) -> Iterator[str]:
    with running(create_app(StandInConfig(store_path, server.url), KEYS)) as url:
        browser.get(url + "/")
        yield url


def log_in(browser: webdriver.Chrome, key: str = KEY) -> None:
    box = wait(lambda: browser.find_element(By.ID, "login-key").is_displayed()
               and browser.find_element(By.ID, "login-key"))
    box.send_keys(key)
    box.send_keys(Keys.ENTER)
    wait(lambda: browser.find_element(By.ID, "app").is_displayed())
    wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#model option"))


def replies(browser: webdriver.Chrome) -> list[WebElement]:
    return browser.find_elements(By.CSS_SELECTOR, '[data-role="assistant"]')


def say(browser: webdriver.Chrome, text: str) -> WebElement:
    """Type `text` in the message box and press Enter; the new reply's element."""
    before = len(replies(browser))
    box = browser.find_element(By.CSS_SELECTOR, "textarea[name=message]")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    return wait(lambda: len(replies(browser)) > before and replies(browser)[-1])


def done(reply: WebElement) -> None:
    wait(lambda: reply.get_attribute("data-status") == "complete")


def stored(store_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store_path) as conn:
        rows = conn.execute(sql).fetchall()
    conn.close()
    return rows


def test_log_in_send_see_the_reply_stream_and_find_it_after_a_reload(
        page: str, browser: webdriver.Chrome, server: ScriptedServer, store_path: Path,
        tmp_path: Path) -> None:
    wrong = wait(lambda: browser.find_element(By.ID, "login-key"))
    wrong.send_keys("sk-test-wrong")
    wrong.send_keys(Keys.ENTER)
    shown = wait(lambda: browser.find_element(By.ID, "login-error").text)
    assert "not accepted" in shown and "talkline serve keys add NAME" in shown
    wrong.clear()
    log_in(browser)
    models = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#model option")]
    assert {"gpt-4o-mini", "gpt-4o", "local"} <= set(models)  # the gateway's /v1/models
    box = browser.find_element(By.CSS_SELECTOR, "textarea[name=message]")
    box.send_keys("first line")
    box.send_keys(Keys.SHIFT, Keys.ENTER)  # a new line, not a send
    assert replies(browser) == []
    box.clear()
    reply = say(browser, "hello **pelican**")
    wait(lambda: reply.get_attribute("data-status") == "complete")
    assert reply.find_element(By.CSS_SELECTOR, ".body").text == "Echo: hello pelican"
    assert reply.find_element(By.CSS_SELECTOR, ".body strong").text == "pelican"  # markdown
    meta = wait(lambda: "$" in reply.find_element(By.CSS_SELECTOR, ".meta").text
                and reply.find_element(By.CSS_SELECTOR, ".meta").text)
    assert "tokens" in meta and "gpt-4o" in meta
    shot = tmp_path / "chat.png"
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"

    browser.refresh()
    item = wait(lambda: browser.find_element(By.CSS_SELECTOR, "#conversations li"))
    assert item.text == "hello **pelican**"
    item.click()
    again = wait(lambda: replies(browser))
    assert again[0].get_attribute("data-status") == "complete"
    assert again[0].find_element(By.CSS_SELECTOR, ".body").text == "Echo: hello pelican"
    # The next turn continues the same conversation, by id, with its history.
    done(say(browser, "and a heron"))
    assert stored(store_path, "SELECT client, turns FROM conversations") == [("carol", 2)]
    assert server.requests[-1].body["messages"][-3:] == [
        {"role": "user", "content": "hello **pelican**"},
        {"role": "assistant", "content": "Echo: hello **pelican**"},  # the text, not HTML
        {"role": "user", "content": "and a heron"},
    ]


XSS = (
    "<img src=x onerror=\"window.__xss=1;alert(1)\"> and <script>window.__xss=2</script>\n\n"
    "[click me](javascript:window.__xss=3) [a site](https://example.invalid/page) "
    "![pic](http://127.0.0.1:9/pixel.png) <a href=\"javascript:alert(4)\">raw</a>\n\n"
    "```python\ndef f():\n    return 1\n```\n"
)


def test_model_output_is_shown_as_text_and_runs_no_script(
        page: str, browser: webdriver.Chrome, server: ScriptedServer, tmp_path: Path) -> None:
    log_in(browser)
    server.script(Reply(XSS))
    reply = say(browser, "show me")
    wait(lambda: reply.get_attribute("data-status") == "complete")
    body = reply.find_element(By.CSS_SELECTOR, ".body")
    text = body.text
    assert '<img src=x onerror="window.__xss=1;alert(1)">' in text
    assert "<script>window.__xss=2</script>" in text
    assert '<a href="javascript:alert(4)">raw</a>' in text
    assert "[image: pic] http://127.0.0.1:9/pixel.png" in text
    assert body.find_elements(By.CSS_SELECTOR, "img, script, iframe, object") == []
    links = body.find_elements(By.TAG_NAME, "a")
    assert [(a.text, a.get_attribute("href"), a.get_attribute("rel"), a.get_attribute("target"))
            for a in links] == [("a site", "https://example.invalid/page",
                                 "noopener noreferrer", "_blank")]
    assert "[click me](javascript:window.__xss=3)" in text  # not a link: inert text
    # highlight.js coloured the code block (its spans), from the vendored file
    assert body.find_elements(By.CSS_SELECTOR, "pre code.hljs span.hljs-keyword")
    time.sleep(0.3)
    assert browser.execute_script("return window.__xss") is None
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    browser.save_screenshot(str(tmp_path / "xss.png"))


def test_stop_interrupts_the_reply_and_the_gateway_stops_upstream(
        page: str, browser: webdriver.Chrome, server: ScriptedServer, store_path: Path) -> None:
    log_in(browser)
    server.script(Reply("word " * 200, chunk_size=5, chunk_delay=0.05))
    reply = say(browser, "a long one")
    wait(lambda: reply.get_attribute("data-status") == "streaming"
         and "word" in reply.find_element(By.CSS_SELECTOR, ".body").text)
    browser.find_element(By.ID, "stop").click()
    wait(lambda: reply.get_attribute("data-status") == "interrupted")
    assert "stopped" in reply.find_element(By.CSS_SELECTOR, ".meta").text
    shown = reply.find_element(By.CSS_SELECTOR, ".body").text
    assert shown.startswith("word") and len(shown) < len("word " * 200) - 5
    rows = wait(lambda: stored(store_path, "SELECT status, length(content) FROM messages "
                               "WHERE role = 'assistant' AND status != 'pending'"))
    assert rows[0][0] == "interrupted" and rows[0][1] < 1000
    assert not browser.find_element(By.ID, "send").get_attribute("disabled")


def test_retry_sends_the_last_question_again_and_errors_show(
        page: str, browser: webdriver.Chrome, server: ScriptedServer, store_path: Path) -> None:
    log_in(browser)
    server.script(Error(status=400, message="The model is resting."), Reply("Second try."))
    first = say(browser, "please")
    wait(lambda: first.get_attribute("data-status") == "error")
    assert "The model is resting." in first.find_element(By.CSS_SELECTOR, ".meta").text
    browser.find_element(By.ID, "retry").click()
    wait(lambda: len(replies(browser)) == 1
         and replies(browser)[0].get_attribute("data-status") == "complete")
    assert replies(browser)[0].find_element(By.CSS_SELECTOR, ".body").text == "Second try."
    assert [m["content"] for m in server.requests[-1].body["messages"]] == ["please"]
    users = stored(store_path, "SELECT content FROM messages WHERE role = 'user'")
    assert users == [("please",), ("please",)]  # the retry is a new branch; both are kept


def test_new_chat_search_and_the_system_prompt(
        page: str, browser: webdriver.Chrome, server: ScriptedServer) -> None:
    log_in(browser)
    done(say(browser, "about pelicans"))
    browser.find_element(By.ID, "new-chat").click()
    wait(lambda: replies(browser) == [])
    browser.find_element(By.CSS_SELECTOR, "#system-box summary").click()
    browser.find_element(By.ID, "system").send_keys("Answer in French.")
    done(say(browser, "about herons"))
    assert server.requests[-1].body["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "about herons"},
    ]
    titles = wait(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#conversations li")) == 2
                  and [li.text for li in browser.find_elements(By.CSS_SELECTOR,
                                                               "#conversations li")])
    assert titles == ["about herons", "about pelicans"]
    browser.find_element(By.ID, "search").send_keys("pelicans")
    wait(lambda: [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#conversations li")]
         == ["about pelicans"])
