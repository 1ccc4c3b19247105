"""/copy's clipboard: a tool when one works, else OSC 52 through the terminal."""

from __future__ import annotations

import base64
import io
import stat
from pathlib import Path

from talkline.cli.output.terminal import Terminal
from talkline.cli.repl.clipboard import OSC52_LIMIT, copy_text, osc52


def test_osc52_sequence_plain_and_inside_tmux() -> None:
    b64 = base64.b64encode("hé".encode()).decode()
    assert osc52("hé") == f"\x1b]52;c;{b64}\x07"
    assert osc52("hé", tmux=True) == f"\x1bPtmux;\x1b\x1b]52;c;{b64}\x07\x1b\\"


def tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_a_working_tool_is_used_and_a_failing_one_skipped(tmp_path: Path) -> None:
    out = tmp_path / "clipboard.txt"
    tool(tmp_path, "xclip", "exit 1")  # e.g. no $DISPLAY over ssh
    tool(tmp_path, "xsel", f"cat > '{out}'")
    sent: list[str] = []
    ok, message = copy_text("the reply ✓", lambda s: sent.append(s) or True,
                            env={"PATH": str(tmp_path)})
    assert (ok, message) == (True, "Copied 11 characters with xsel.")
    assert out.read_text() == "the reply ✓" and sent == []


def test_no_tool_falls_back_to_osc52_and_says_so(tmp_path: Path) -> None:
    tool(tmp_path, "wl-copy", "exit 1")
    sent: list[str] = []
    ok, message = copy_text("abc", lambda s: sent.append(s) or True,
                            env={"PATH": str(tmp_path), "TMUX": "/tmp/tmux,1,0"})
    assert ok and sent == [osc52("abc", tmux=True)]
    assert message == ("Copied 3 characters via the terminal (OSC 52); if nothing was copied, "
                       "your terminal may not allow it.")


def test_a_huge_reply_is_cut_at_a_character_boundary_and_the_cut_is_said(
    tmp_path: Path,
) -> None:
    text = "é" * OSC52_LIMIT  # two bytes each: twice the limit
    sent: list[str] = []
    ok, message = copy_text(text, lambda s: sent.append(s) or True, env={"PATH": str(tmp_path)})
    payload = base64.b64decode(sent[0][len("\x1b]52;c;"):-1]).decode()
    assert ok and payload == "é" * (OSC52_LIMIT // 2)
    assert message.startswith("Copied the first 50,000 of 100,000 characters (the terminal's "
                              "limit is 100 KB; /export FILE saves it all) via the terminal")


def test_no_tool_and_no_terminal_says_what_to_do(tmp_path: Path) -> None:
    term = Terminal(stdout=io.StringIO(), stderr=io.StringIO())  # neither is a terminal
    ok, message = copy_text("abc", term.write_control, env={"PATH": str(tmp_path)})
    assert not ok
    assert message == ("No clipboard tool found (pbcopy, wl-copy, xclip, xsel or clip.exe) and "
                       "no terminal to copy through: install one of them, or use /export FILE.")
    assert term.out.getvalue() == "" and term.err.getvalue() == ""  # type: ignore[attr-defined]
