"""`/copy`: the last reply to the clipboard, with a clipboard tool when one works, else
through the terminal itself (OSC 52, which also works in tmux and over ssh).

OSC 52 is `ESC ] 52 ; c ; <base64> BEL`. Inside tmux ($TMUX set) it is wrapped in tmux's
passthrough, `ESC P tmux; <the sequence, each ESC doubled> ESC \\`, so that it reaches the
outer terminal. Terminals cap what they accept, so the text is cut at `OSC52_LIMIT` bytes.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping

__all__ = ["OSC52_LIMIT", "TOOLS", "copy_text", "osc52"]

OSC52_LIMIT = 100_000  # bytes of text; about what xterm, kitty and tmux accept

TOOLS: tuple[tuple[str, ...], ...] = (
    ("pbcopy",),
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("clip.exe",),
)


def osc52(text: str, *, tmux: bool = False) -> str:
    """The escape sequence that asks the terminal to put `text` on the clipboard."""
    payload = base64.b64encode(text.encode("utf-8")).decode("ascii")
    sequence = f"\x1b]52;c;{payload}\x07"
    if tmux:
        sequence = "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return sequence


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def _run_tool(tool: tuple[str, ...], text: str) -> bool:
    try:
        done = subprocess.run(list(tool), input=text, text=True, check=False, timeout=5,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def copy_text(text: str, write_sequence: Callable[[str], bool],
              env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """Copy `text`; returns (success, the message for the user).

    `write_sequence` writes a terminal control sequence and says whether there was a
    terminal to write it to.
    """
    env = os.environ if env is None else env
    for tool in TOOLS:
        found = shutil.which(tool[0], path=env.get("PATH"))
        if found and _run_tool((found, *tool[1:]), text):
            return True, f"Copied {len(text):,} characters with {tool[0]}."
    cut = _cut(text, OSC52_LIMIT)
    if not write_sequence(osc52(cut, tmux=bool(env.get("TMUX")))):
        return False, ("No clipboard tool found (pbcopy, wl-copy, xclip, xsel or clip.exe) "
                       "and no terminal to copy through: install one of them, or use "
                       "/export FILE.")
    head = (f"Copied the first {len(cut):,} of {len(text):,} characters (the terminal's "
            f"limit is {OSC52_LIMIT // 1000} KB; /export FILE saves it all)"
            if cut != text else f"Copied {len(text):,} characters")
    return True, (f"{head} via the terminal (OSC 52); if nothing was copied, your terminal "
                  "may not allow it.")
