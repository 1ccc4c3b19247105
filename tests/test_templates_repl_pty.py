"""`/role` and `/template` in the REPL, through a real pseudo-terminal against the scripted
server: the system message of the request bodies that follow, the notice when a
conversation's system prompt is replaced, `/template` wrapping each message until off."""

from __future__ import annotations

import pexpect

from .test_repl_pty import READY, ask, spawn


def write(home, name: str, text: str) -> None:
    folder = home / "templates"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(text, encoding="utf-8")


def quit_(child: pexpect.spawn) -> None:
    child.expect_exact(READY)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_role_switches_the_system_prompt_of_the_following_turns(server, talkline_home):
    write(talkline_home, "pirate", 'system = "Talk like a pirate."\n')
    child = spawn(server, talkline_home, "-s", "Be brief.")
    ask(child, "first", "Echo: first")
    ask(child, "/role", "editor")
    child.expect_exact("pirate")
    ask(child, "/role pirate", 'system prompt replaced for this conversation from this '
                               'turn on (was: "Be brief.")')
    ask(child, "second", "Echo: second")
    ask(child, "/role editor", 'role "editor" for the following turns')
    ask(child, "third", "Echo: third")
    ask(child, "/role nosuch", 'no template named "nosuch"')
    child.expect_exact(READY)
    child.send("/role pir\t")  # tab completes the name
    child.sendline("")
    child.expect_exact('role "pirate" for the following turns')
    ask(child, "fourth", "Echo: fourth")
    quit_(child)
    bodies = [r.body["messages"] for r in server.chat_requests]
    assert bodies[0][0] == {"role": "system", "content": "Be brief."}
    assert bodies[1][0] == {"role": "system", "content": "Talk like a pirate."}
    assert bodies[1][1:] == [{"role": "user", "content": "first"},
                             {"role": "assistant", "content": "Echo: first"},
                             {"role": "user", "content": "second"}]
    assert bodies[2][0]["role"] == "system" and "terse copy editor" in bodies[2][0]["content"]
    assert bodies[3][0] == {"role": "system", "content": "Talk like a pirate."}


def test_template_applies_its_values_and_wraps_messages_until_off(server, talkline_home):
    write(talkline_home, "tr", 'system = "You translate."\nprompt = "To French:\\n$input"\n'
                               'model = "gpt-4o"\n[params]\ntemperature = 0.2\n')
    child = spawn(server, talkline_home)
    ask(child, "/template tr", 'template "tr" in use (each message goes into its prompt')
    ask(child, "good morning", "Echo: To French:")
    ask(child, "/template off", "template off")
    ask(child, "plain again", "Echo: plain again")
    quit_(child)
    first, second = (r.body for r in server.chat_requests)
    assert first["model"] == "gpt-4o" and first["temperature"] == 0.2
    assert first["messages"] == [{"role": "system", "content": "You translate."},
                                 {"role": "user", "content": "To French:\ngood morning"}]
    assert second["messages"][-1] == {"role": "user", "content": "plain again"}


def test_chat_with_template_flag_wraps_each_message(server, talkline_home):
    write(talkline_home, "ask", 'prompt = "Q ($who): $input"\n')
    child = spawn(server, talkline_home, "--template", "ask", "--var", "who", "me")
    ask(child, "hello", "Echo: Q (me): hello")
    quit_(child)
    assert server.chat_requests[-1].body["messages"] == [
        {"role": "user", "content": "Q (me): hello"}]
