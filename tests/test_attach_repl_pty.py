"""`/attach` in the REPL, through a real pseudo-terminal against the scripted server."""

from __future__ import annotations

import base64

import pexpect

from . import attachfiles as files
from .test_repl_pty import READY, ask, spawn


def test_attach_lists_sends_with_the_next_message_and_clears(server, talkline_home, tmp_path):
    data = files.png(3, 3)
    (tmp_path / "cat.png").write_bytes(data)
    (tmp_path / "notes.txt").write_text("a note\n")
    child = spawn(server, talkline_home)
    ask(child, "/attach", "No attachments waiting. /attach PATH adds one")
    ask(child, f"/attach {tmp_path / 'cat.png'}", "Attached cat.png (image,")
    ask(child, "/attach", "1 attachment(s) go with the next message")
    ask(child, f"/attach {tmp_path / 'missing.png'}", "no such file. Check the path")
    ask(child, "what is this?", "Echo: what is this?")
    ask(child, "/attach", "No attachments waiting.")
    ask(child, f"/attach {tmp_path / 'notes.txt'}", "Attached notes.txt (text,")
    ask(child, "/attach clear", "Dropped 1 attachment(s).")
    ask(child, "plain now", "Echo: plain now")
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    first, second = (r.body["messages"] for r in server.chat_requests)
    url = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    assert first[-1]["content"] == [{"type": "text", "text": "what is this?"},
                                    {"type": "image_url", "image_url": {"url": url}}]
    assert second[-1] == {"role": "user", "content": "plain now"}
    assert second[0]["content"][1]["image_url"]["url"] == url  # history re-expanded


def test_a_refused_attachment_waits_for_the_next_try(server, talkline_home, tmp_path):
    (tmp_path / "cat.png").write_bytes(files.png())
    child = spawn(server, talkline_home, "-m", "gpt-3.5-turbo")
    ask(child, f"/attach {tmp_path / 'cat.png'}", "Attached cat.png")
    ask(child, "look", "gpt-3.5-turbo cannot see images")
    ask(child, "/attach", "1 attachment(s) go with the next message")
    ask(child, "/model gpt-4o", "gpt-4o")
    ask(child, "look again", "Echo: look again")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert len(server.chat_requests) == 1
    assert server.chat_requests[0].body["messages"][-1]["content"][1]["type"] == "image_url"
