"""`-a/--attach` end to end: the real command in a subprocess against the scripted server,
asserting on the request bodies it received (each validated against the official schema)
and on the SQLite file the store wrote."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from . import attachfiles as files
from .clihelp import SRC, run
from .openapi_schema import validate

KEY = "sk-test-fake-attach-1234"


def env_for(server, **extra: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url, **extra}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def database(home: Path) -> Path:
    found = list(home.rglob("talkline.db"))
    assert len(found) == 1, found
    return found[0]


def user_content(server) -> list[dict]:
    body = server.chat_requests[-1].body
    validate("CreateChatCompletionRequest", body)
    return body["messages"][-1]["content"]


# name on disk (misleading on purpose for the PNG), bytes, the part expected on the wire
CASES = [
    ("photo.jpg", files.png(), lambda d: {"type": "image_url", "image_url": {
        "url": f"data:image/png;base64,{b64(d)}"}}),
    ("picture.png", files.jpeg(), lambda d: {"type": "image_url", "image_url": {
        "url": f"data:image/jpeg;base64,{b64(d)}"}}),
    ("anim.gif", files.gif(), lambda d: {"type": "image_url", "image_url": {
        "url": f"data:image/gif;base64,{b64(d)}"}}),
    ("pic.webp", files.webp(), lambda d: {"type": "image_url", "image_url": {
        "url": f"data:image/webp;base64,{b64(d)}"}}),
    ("paper.pdf", files.pdf(), lambda d: {"type": "file", "file": {
        "filename": "paper.pdf", "file_data": f"data:application/pdf;base64,{b64(d)}"}}),
    ("voice.wav", files.wav(), lambda d: {"type": "input_audio", "input_audio": {
        "data": b64(d), "format": "wav"}}),
    ("song.bin", files.mp3(), lambda d: {"type": "input_audio", "input_audio": {
        "data": b64(d), "format": "mp3"}}),
    ("notes.txt", "first line\nsecond, é\n".encode(), lambda d: {
        "type": "text", "text": "--- notes.txt ---\nfirst line\nsecond, é\n"}),
]


@pytest.mark.parametrize(("name", "data", "part"), CASES, ids=[c[0] for c in CASES])
def test_each_kind_is_sent_as_its_part_with_the_exact_bytes(server, tmp_path, name, data,
                                                            part):
    path = tmp_path / name
    path.write_bytes(data)
    model = "gpt-4o-audio-preview" if part(data)["type"] == "input_audio" else "gpt-4o-mini"
    r = run("-m", model, "-a", str(path), "What is this?", env=env_for(server))
    assert r.code == 0, r.err
    assert user_content(server) == [{"type": "text", "text": "What is this?"}, part(data)]


def test_image_url_is_sent_as_the_url_and_other_urls_are_refused(server):
    url = "https://example.com/cat.png?size=big"
    r = run("-a", url, "Describe", env=env_for(server))
    assert r.code == 0, r.err
    assert user_content(server)[1] == {"type": "image_url", "image_url": {"url": url}}
    r = run("-a", "https://example.com/report.pdf", "Summarise", env=env_for(server))
    assert r.code == 2
    assert "never fetches one. Download it first" in r.err and "Traceback" not in r.err
    assert len(server.chat_requests) == 1


def test_stdin_attachment_and_its_prompt_rule(server, tmp_path):
    data = files.png(4, 4)
    env = dict(os.environ, PYTHONPATH=SRC, TALKLINE_HOME=os.environ["TALKLINE_HOME"],
               **env_for(server))
    proc = subprocess.run([sys.executable, "-m", "talkline", "-a", "-", "What is it?"],
                          input=data, capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert user_content(server)[1]["image_url"]["url"] == f"data:image/png;base64,{b64(data)}"
    r = run("-a", "-", input="not the prompt", env=env_for(server))
    assert r.code == 2
    assert "the prompt cannot come from there too: give the prompt as an argument" in r.err
    assert len(server.chat_requests) == 1


def test_same_file_twice_is_one_blob_and_c_sends_it_again(server, talkline_home, tmp_path):
    data = files.png(8, 8)
    (tmp_path / "a.png").write_bytes(data)
    (tmp_path / "copy.png").write_bytes(data)
    assert run("-a", str(tmp_path / "a.png"), "first", env=env_for(server)).code == 0
    r = run("-c", "-a", str(tmp_path / "copy.png"), "again", env=env_for(server))
    assert r.code == 0, r.err
    r = run("-c", "and now?", env=env_for(server))
    assert r.code == 0, r.err
    messages = server.chat_requests[-1].body["messages"]
    validate("CreateChatCompletionRequest", server.chat_requests[-1].body)
    url = f"data:image/png;base64,{b64(data)}"
    assert messages[0]["content"][1]["image_url"]["url"] == url  # re-expanded from the blob
    assert messages[2]["content"][1]["image_url"]["url"] == url
    db = database(talkline_home)
    with sqlite3.connect(db) as conn:
        blobs = conn.execute("SELECT sha256, mime, size, bytes FROM blobs").fetchall()
        parts = [r[0] for r in conn.execute("SELECT parts FROM messages WHERE parts IS NOT NULL")]
    assert len(blobs) == 1 and blobs[0][1:] == ("image/png", len(data), data)
    assert all("base64" not in p for p in parts) and len(parts) == 2
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_size_limit_unknown_type_and_unreadable_files_are_refused(server, tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (1024 * 1024 + 1))
    r = run("-a", str(big), "Summarise", env=env_for(server))
    assert r.code == 2
    assert f"Cannot attach {big}: it is 1,048,577 bytes, over the 1,048,576 bytes limit " \
           "for a text file. Make it smaller" in r.err
    archive = tmp_path / "photos.png"
    archive.write_bytes(files.zip_file())
    r = run("-a", str(archive), "Look", env=env_for(server))
    assert r.code == 2
    assert "it is a ZIP archive (or an Office document), which talkline does not send. " \
           "Attach png, jpeg, gif or webp images, PDF files, wav or mp3 audio" in r.err
    r = run("-a", str(tmp_path / "nope.png"), "Look", env=env_for(server))
    assert r.code == 2 and "no such file. Check the path" in r.err
    r = run("-a", str(tmp_path), "Look", env=env_for(server))
    assert r.code == 2 and "it is a folder. Attach the files in it one by one" in r.err
    assert "Traceback" not in r.err
    assert server.chat_requests == []


def test_a_text_only_model_is_refused_before_sending(server, talkline_home, tmp_path):
    (tmp_path / "cat.png").write_bytes(files.png())
    r = run("-m", "gpt-3.5-turbo", "-a", str(tmp_path / "cat.png"), "What is it?",
            env=env_for(server))
    assert r.code == 2
    assert ("gpt-3.5-turbo cannot see images (the catalog says it takes text only), so "
            "nothing was sent. Use a model that can, e.g. -m gpt-4o-mini") in r.err
    assert server.chat_requests == []
    (tmp_path / "voice.wav").write_bytes(files.wav())
    r = run("-a", str(tmp_path / "voice.wav"), "Transcribe", env=env_for(server))
    assert r.code == 2
    assert "gpt-4o-mini cannot hear audio" in r.err and "-m gpt-4o-mini-audio-preview" in r.err
    assert server.chat_requests == []


def test_budget_counts_the_image(server, tmp_path):
    (tmp_path / "wide.png").write_bytes(files.png(2048, 2048))  # 25,501 tokens on 4o-mini
    args = ("--budget", "0.001", "--max-tokens", "5")
    r = run(*args, "Describe it", env=env_for(server))
    assert r.code == 0, r.err  # the text alone is well under the budget
    r = run(*args, "-a", str(tmp_path / "wide.png"), "Describe it", env=env_for(server))
    assert r.code != 0
    assert "budget" in r.err.lower() and "Traceback" not in r.err
    assert len(server.chat_requests) == 1


def test_history_show_export_and_import_keep_the_attachment(server, talkline_home, tmp_path):
    data = files.png(2, 2)
    (tmp_path / "cat.png").write_bytes(data)
    assert run("-a", str(tmp_path / "cat.png"), "Name the cat", env=env_for(server)).code == 0
    cid = run("history", "list", "--json", env=env_for(server)).out
    cid = json.loads(cid)[0]["id"]
    sha = hashlib.sha256(data).hexdigest()
    shown = run("history", "show", cid, env=env_for(server))
    assert shown.code == 0, shown.err
    assert f"[image: cat.png, image/png, {len(data)} bytes, sha256 {sha[:8]}…]" in shown.out
    assert "base64" not in shown.out
    out = tmp_path / "conv.json"
    assert run("history", "export", cid, "--format", "json", "-o", str(out),
               env=env_for(server)).code == 0
    exported = json.loads(out.read_text())
    assert exported["version"] == 4
    assert exported["blobs"] == {sha: {"mime": "image/png", "size": len(data), "data": b64(data)}}
    assert exported["messages"][0]["content"][1]["blob"] == sha
    tampered = json.loads(out.read_text())
    tampered["blobs"][sha]["data"] = b64(data + b"x")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tampered))
    r = run("history", "import", str(bad), env=env_for(server))
    assert r.code == 2 and "does not match its SHA-256" in r.err and "nothing was imported" in r.err
    with sqlite3.connect(database(talkline_home)) as conn:
        conn.execute("DELETE FROM blobs")  # the import must bring the bytes back itself
    r = run("history", "import", str(out), env=env_for(server))
    assert r.code == 0, r.err
    new_id = r.out.strip()
    r = run("--cid", new_id, "Again?", env=env_for(server))
    assert r.code == 0, r.err
    first = server.chat_requests[-1].body["messages"][0]["content"]
    url = f"data:image/png;base64,{b64(data)}"
    assert first[1] == {"type": "image_url", "image_url": {"url": url}}
    openai = run("history", "export", new_id, "--format", "openai", env=env_for(server)).out
    assert json.loads(openai)[0]["content"][1]["image_url"]["url"].endswith(b64(data))
