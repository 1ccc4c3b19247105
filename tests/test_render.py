"""The streaming markdown renderer: the pure block splitter, exact output on a `Console`
writing to a string, and the live region replayed through a terminal emulator (pyte)."""

from __future__ import annotations

import io
import random
import re

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.markdown import Markdown

from talkline.cli.output import render as render_module
from talkline.cli.output._blocks import Block, BlockSplitter
from talkline.cli.output.render import MarkdownStream
from talkline.cli.output.terminal import Terminal


def frame(text: str) -> str:
    """Expected output is written with `|` marking the end of each padded line."""
    return text.replace("|\n", "\n")


def console(width: int = 50, **kwargs: object) -> Console:
    kwargs.setdefault("color_system", None)
    return Console(file=io.StringIO(), width=width, **kwargs)  # type: ignore[arg-type]


def stream_render(deltas: list[str], width: int = 50) -> str:
    con = console(width)
    stream = MarkdownStream(con)
    for delta in deltas:
        stream.feed(delta)
    stream.finish()
    return con.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def whole_render(text: str, width: int = 50) -> str:
    con = console(width)
    con.print(Markdown(text, hyperlinks=False))
    return con.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_all(text: str, deltas: list[str] | None = None) -> list[Block]:
    splitter = BlockSplitter()
    done: list[Block] = []
    for delta in deltas if deltas is not None else [text]:
        done += splitter.feed(delta)
    return done + splitter.finish()


# -- the splitter (pure)


def test_splitter_commits_blocks_at_their_ends() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("# Title\nA para") == [Block("heading", "# Title")]
    assert splitter.tail() == Block("paragraph", "A para")
    assert splitter.feed("graph\ngoes on\n") == []
    assert splitter.feed("\n") == [Block("paragraph", "A paragraph\ngoes on")]
    assert splitter.feed("```py\nx = 1\n\n") == []
    assert splitter.tail() == Block("fence", "```py\nx = 1\n")
    assert splitter.feed("```\n") == [Block("fence", "```py\nx = 1\n\n```")]
    assert splitter.feed("- a\n- b\n  - c\n") == [Block("item", "- a")]
    assert splitter.feed("\nAfter\n") == [Block("item", "- b\n  - c", joins=True)]
    assert splitter.finish() == [Block("paragraph", "After")]


def test_splitter_ordered_items_carry_their_numbers() -> None:
    blocks = split_all("3. c\n1. d\n\n   more\n7) new list\n")
    assert blocks == [
        Block("item", "3. c", number=3),
        Block("item", "1. d\n\n   more", number=4, joins=True),
        Block("item", "7) new list", number=7),
    ]


def test_splitter_tables_setext_rules_and_quotes() -> None:
    text = (
        "Intro line\n| a | b |\n|---|--:|\n| 1 | 2 |\n# Next\n"
        "Title\n=====\nText\n***\n> quoted\nlazy\n\n| x |\n"
    )
    assert split_all(text) == [
        Block("paragraph", "Intro line"),
        Block("table", "| a | b |\n|---|--:|\n| 1 | 2 |"),
        Block("heading", "# Next"),
        Block("heading", "Title\n====="),
        Block("paragraph", "Text"),
        Block("hr", "***"),
        Block("quote", "> quoted\nlazy"),
        Block("paragraph", "| x |"),
    ]


def test_splitter_fences_inside_items_and_unindented_fences_end_the_list() -> None:
    text = "1. Run:\n   ```sh\n   make\n\n   ```\n2. Then:\n```py\nx\n```\n"
    assert split_all(text) == [
        Block("item", "1. Run:\n   ```sh\n   make\n\n   ```", number=1),
        Block("item", "2. Then:", number=2, joins=True),
        Block("fence", "```py\nx\n```"),
    ]


def test_splitter_tail_is_cropped_to_the_screen() -> None:
    splitter = BlockSplitter()
    splitter.feed("```python\n" + "".join(f"line {i}\n" for i in range(5000)) + "partial" * 99)
    tail = splitter.tail(max_lines=10, max_chars=120)
    assert tail is not None
    lines = tail.text.split("\n")
    assert len(lines) == 10 and lines[0] == "```python" and lines[1] == "line 4992"
    assert lines[-1] == ("partial" * 99)[-120:]


SAMPLE = """\
# Streaming markdown

Finished blocks are **committed** once; only the *tail* is redrawn, with `code`.

## Steps
1. Split the reply into blocks
2. Render each block once:
   ```python
   def render(block):
       return Markdown(block)
   ```
3. Redraw the tail

- apples
  - green
  - red
- pears
* another list

| Peer | Markdown | Cost |
|------|:--------:|-----:|
| llm | no | flat |
| sgpt | yes | grows |

> A quote
> over two lines

---
Setext heading
--------------

    indented code

Final paragraph with a [link](https://example.com) and an image ![alt](x.png).
"""


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100000])
def test_stream_output_equals_rich_rendering_of_the_whole_reply(size: int) -> None:
    assert stream_render(chunks(SAMPLE, size), width=60) == whole_render(SAMPLE, width=60)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60))
def test_any_chunking_gives_the_same_blocks(sizes: list[int]) -> None:
    deltas, pos = [], 0
    for size in sizes * (len(SAMPLE) // max(1, sum(sizes)) + 1):
        deltas.append(SAMPLE[pos : pos + size])
        pos += size
    deltas.append(SAMPLE[pos:])
    assert split_all(SAMPLE, deltas) == split_all(SAMPLE)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab -*#>|`~1.\n\t:=_", max_size=200), st.integers(1, 9))
def test_splitter_never_loses_text(text: str, size: int) -> None:
    blocks = split_all(text, chunks(text, size))
    kept = [line for b in blocks for line in b.text.split("\n") if line.strip()]
    source = [line for line in text.replace("\r", "").split("\n") if line.strip()]
    assert kept == source


# -- exact output (Console on a string, fixed width: no live region)


def test_headings() -> None:
    text = "# Streaming\n\nIntro text.\n## Second level\nRight under it.\n### Third\n"
    assert stream_render(chunks(text, 4)) == frame("""\
                    Streaming                     |
|
Intro text.                                       |
|
Second level                                      |
|
Right under it.                                   |
|
Third                                             |
""")


def test_nested_lists() -> None:
    text = (
        "- fruit\n  - apple\n  - pear\n    1. green\n    2. red\n- vegetables\n  - leek\n\n"
        "1. first\n2. second\n   - note\n3. third\n"
    )
    expected = frame("""\
|
 • fruit                                          |
    • apple                                       |
    • pear                                        |
       1 green                                    |
       2 red                                      |
 • vegetables                                     |
    • leek                                        |
|
 1 first                                          |
 2 second                                         |
    • note                                        |
 3 third                                          |
""")
    assert stream_render(chunks(text, 5)) == expected
    assert stream_render([text]) == expected == whole_render(text)


def test_ordered_items_committed_one_by_one_keep_their_numbers() -> None:
    text = "".join(f"1. step {i}\n" for i in range(1, 11))  # "1." each time, as CommonMark allows
    out = stream_render(chunks(text, 3), width=20)
    assert out == frame("""\
|
 1 step 1           |
 2 step 2           |
 3 step 3           |
 4 step 4           |
 5 step 5           |
 6 step 6           |
 7 step 7           |
 8 step 8           |
  9 step 9          |
 10 step 10         |
""")  # the documented difference: rich would widen every number column for a 10-item list


def test_code_block_split_across_many_deltas() -> None:
    text = (
        "Before:\n\n```python\ndef add(a, b):\n    return a + b\n\n\nprint(add(1, 2))\n```\n"
        "After.\n"
    )
    expected = frame("""\
Before:                                           |
|
                                                  |
 def add(a, b):                                   |
     return a + b                                 |
                                                  |
                                                  |
 print(add(1, 2))                                 |
                                                  |
|
After.                                            |
""")
    deltas = [
        "Bef",
        "ore:\n",
        "\n`",
        "``",
        "pyt",
        "hon\nd",
        "ef add(a, b):",
        "\n    return",
        " a + b\n\n",
        "\nprint(add(1, 2))",
        "\n`",
        "`",
        "`\nAft",
        "er.\n",
    ]
    assert "".join(deltas) == text
    assert stream_render(deltas) == expected
    assert stream_render(chunks(text, 1)) == expected


def test_code_is_highlighted_by_language() -> None:
    def styles(lang: str) -> dict[str, str]:
        con = console(30, color_system="truecolor")
        stream = MarkdownStream(con, code_theme="monokai")
        for delta in chunks(f"```{lang}\ndef f():\n    return 1\n```\n", 3):
            stream.feed(delta)
        stream.finish()
        out = con.file.getvalue()  # type: ignore[attr-defined]
        return {word: code for code, word in re.findall(r"\x1b\[([0-9;]+)m(\w+)", out)}

    python = styles("python")
    assert python["def"] == python["return"] != python["f"]  # keyword, function name
    assert python["def"].startswith("38;2;102;217;239")  # monokai's keyword colour
    text = styles("text")
    assert set(text) == {"def"}  # "def f():" is one plain run: nothing highlighted


def test_table() -> None:
    text = (
        "| Tool | Markdown | Stream |\n|------|:--------:|-------:|\n| llm | no | yes |\n"
        "| sgpt | yes | slow |\n| talkline | yes | fast |\n\nDone.\n"
    )
    rule = "─" * 26
    expected = frame(f"""\
|
                            |
 Tool      Markdown  Stream |
 {rule} |
 llm          no        yes |
 sgpt        yes       slow |
 talkline    yes       fast |
                            |
|
Done.                                             |
""")
    assert stream_render(chunks(text, 6)) == expected == whole_render(text)


def test_reply_arriving_one_character_at_a_time() -> None:
    text = (
        "## Plan\n\nWe will **stream** it.\n\n1. Parse\n2. Render:\n   ```sh\n   echo hi\n   ```\n"
        "3. Commit\n\n> Finished lines never move.\n\n---\nThe end."
    )
    expected = frame("""\
Plan                                    |
|
We will stream it.                      |
|
 1 Parse                                |
 2 Render:                              |
                                        |
    echo hi                             |
                                        |
 3 Commit                               |
|
▌ Finished lines never move.          |
|
----------------------------------------|
|
The end.                                |
""")
    assert stream_render(list(text), width=40) == expected == whole_render(text, width=40)


def test_wide_characters_emoji_and_rtl_text_are_measured_in_cells() -> None:
    text = (
        "| 名前 | 🙂 | שלום |\n|---|---|---|\n| 日本語 | ok | עולם |\n\n"
        + "漢字かな" * 12
        + " end\n"
    )
    out = stream_render(chunks(text, 3), width=30)
    assert out == frame("""\
|
                  |
 名前    🙂  שלום |
 ──────────────── |
 日本語  ok  עולם |
                  |
|
漢字かな漢字かな漢字かな漢字か|
な漢字かな漢字かな漢字かな漢字|
かな漢字かな漢字かな漢字かな漢|
字かな end                    |
""")
    con = console(30, force_terminal=True, height=8)
    stream = MarkdownStream(con, refresh_interval=0)
    for delta in chunks(text, 2):
        stream.feed(delta)
    stream.finish()
    expected = [line.rstrip() for line in out.split("\n")][:-1]
    assert replay(con.file.getvalue(), 30, 8) == expected  # type: ignore[attr-defined]


def test_links_are_shown_not_hidden_in_hyperlinks() -> None:
    out = stream_render(["See [the docs](https://example.com/a).\n"])
    assert out.startswith("See the docs (https://example.com/a).")
    assert "\x1b]8" not in out


# -- the live region (a terminal console, replayed through a terminal emulator)


def replay(output: str, width: int, height: int) -> list[str]:
    """Screen and scrollback after `output`, as pyte reconstructs them."""
    screen = pyte.HistoryScreen(width, height, history=100000)
    stream = pyte.Stream(screen)
    stream.feed(output.replace("\n", "\r\n"))  # what the tty's ONLCR does
    rows = ["".join(line[x].data for x in range(width)).rstrip() for line in screen.history.top]
    rows += [line.rstrip() for line in screen.display]
    while rows and not rows[-1]:
        rows.pop()
    return rows


@pytest.mark.parametrize("size", [2, 11, 40])
def test_live_region_leaves_exactly_the_committed_text(size: int) -> None:
    width, height = 60, 12
    con = console(width, force_terminal=True, height=height)
    stream = MarkdownStream(con, refresh_interval=0)
    text = SAMPLE + "```\n" + "".join(f"code line {i}\n" for i in range(30)) + "```\nBye.\n"
    for delta in chunks(text, size):
        stream.feed(delta)
    stream.finish()
    out = con.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[J" in out and "\x1b[" in out  # the tail really was drawn and erased
    expected = [line.rstrip() for line in whole_render(text, width).split("\n")]
    while expected and not expected[-1]:
        expected.pop()
    assert replay(out, width, height) == expected


def test_live_region_never_exceeds_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    width, height = 40, 10
    con = console(width, force_terminal=True, height=height)
    stream = MarkdownStream(con, refresh_interval=0)
    rendered: list[int] = []
    real = render_module.render_markdown

    def spy(console: Console, block: Block, **kwargs: object) -> str:
        rendered.append(len(block.text.split("\n")))
        return real(console, block, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render_module, "render_markdown", spy)
    stream.feed("```\n")
    for i in range(300):
        stream.feed(f"line {i}\n")
        assert stream._tail_rows <= height - 2
    stream.finish()
    assert max(rendered[:-1]) <= height - 2  # the source of each redraw is cropped too
    assert rendered[-1] == 301  # the committed block is rendered whole, once


def test_redraws_are_throttled_and_a_pause_still_shows_the_latest_text() -> None:
    import time

    con = console(40, force_terminal=True, height=10)
    stream = MarkdownStream(con, refresh_interval=0.05)
    for _ in range(200):
        stream.feed("word ")
    drawn = con.file.getvalue().count("\x1b[J")  # type: ignore[attr-defined]
    assert drawn <= 10  # 200 deltas within a few ms: not 200 redraws
    time.sleep(0.3)  # the stream pauses: the ticker draws the latest tail
    out = con.file.getvalue()  # type: ignore[attr-defined]
    assert replay(out, 40, 10)[-1].endswith("word word")
    stream.finish()


def test_clear_drops_only_the_tail() -> None:
    con = console(40, force_terminal=True, height=10)
    stream = MarkdownStream(con, refresh_interval=0)
    stream.feed("Committed paragraph.\n\nPartial tail that")
    assert stream.committed
    stream.clear()
    assert replay(con.file.getvalue(), 40, 10) == ["Committed paragraph."]  # type: ignore[attr-defined]


LINES = [
    "para text with *emphasis* and `code`",
    "more text",
    "",
    "",
    "# Head",
    "## Sub",
    "- item",
    "* star item",
    "+ plus",
    "  - nested",
    "    - deeper",
    "1. one",
    "2. two",
    "3) paren",
    "   continued",
    "  indented two",
    "    indented four",
    "```",
    "```py",
    "~~~",
    "> quote",
    "> > nested quote",
    "---",
    "***",
    "___",
    "| a | b |",
    "|---|---|",
    "| 1 | 2 |",
    "===",
    "- ",
    "-",
    "text | pipe",
    "Title",
    "  ```",
    "   ```js",
    "\ttabbed",
    "- [x] task",
    "1. ",
    "10. ten",
]


def test_random_documents_match_whole_rendering() -> None:
    rng = random.Random(11)
    for _ in range(300):
        text = "\n".join(rng.choice(LINES) for _ in range(rng.randint(1, 10)))
        got = stream_render(chunks(text, rng.randint(1, 9)), width=40)
        assert got == whole_render(text, width=40), text


# -- the Terminal on a (fake) TTY: stdout and stderr share one screen, as they do for real


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def tty_terminal(width: int = 40, height: int = 10, **kwargs: object) -> tuple[Terminal, FakeTTY]:
    screen = FakeTTY()
    con = Console(file=screen, force_terminal=True, width=width, height=height, color_system=None)
    term = Terminal(stdout=screen, stderr=screen, plain=False, console=con, **kwargs)  # type: ignore[arg-type]
    return term, screen


def test_terminal_streams_markdown_and_hides_the_tail_for_status_lines() -> None:
    term, screen = tty_terminal()
    assert term.rich and term.incremental and term.color
    for delta in chunks("# Title\n\nFirst paragraph.\n\nSecond one, still typ", 3):
        term.write_answer(delta)
    term.status("answered by gpt-4o (fallback from gpt-5)")
    term.write_answer("ing.")
    term.end_answer()
    assert replay(screen.getvalue(), 40, 10) == [
        "                 Title",
        "",
        "First paragraph.",
        "answered by gpt-4o (fallback from gpt-5)",
        "",
        "Second one, still typing.",
    ]


def test_terminal_erase_clears_the_tail_and_notes_what_stays() -> None:
    term, screen = tty_terminal(width=60)
    term.write_answer("Only a tail so far")
    term.erase_answer()  # nothing committed: it simply goes
    term.write_answer("Done block.\n\nAnother tail")
    term.erase_answer()  # "Done block." is in the scrollback for good
    term.write_answer("Done block.\n\nThe full answer.\n")
    term.end_answer()
    assert replay(screen.getvalue(), 60, 10) == [
        "Done block.",
        "[retrying: the partial answer above is replaced below]",
        "Done block.",
        "",
        "The full answer.",
    ]


def test_terminal_interrupt_keeps_what_is_shown_and_marks_it() -> None:
    term, screen = tty_terminal()
    term.write_answer("Para.\n\n```py\nx = 1\ny = ")
    term.interrupt_answer()
    rows = replay(screen.getvalue(), 40, 10)
    assert [row.strip() for row in rows] == ["Para.", "", "", "x = 1", "y =", "", "[interrupted]"]


def test_terminal_write_markdown_renders_a_whole_answer_without_a_live_region() -> None:
    term, screen = tty_terminal()
    term.write_markdown("# T\n\n- a\n- b\n")
    assert "\x1b[" not in screen.getvalue()
    assert screen.getvalue().split("\n")[1:] == ["", " • a" + " " * 36, " • b" + " " * 36, ""]


def test_plain_tty_mode_erase_and_mid_line_status() -> None:
    screen = FakeTTY()
    term = Terminal(stdout=screen, stderr=screen, plain=True)
    term.write_answer("partial")
    term.erase_answer()
    term.write_answer("# Whole\nanswer\r")
    term.warn("slow")
    term.write_answer("\n")
    term.end_answer()
    assert screen.getvalue() == (
        "partial\n[retrying: the partial answer above is replaced below]\n"
        "# Whole\nanswer\nslow\n\n"  # the CR held back was half of a CR LF
    )


def test_spinner_runs_on_a_tty_stderr_until_the_first_write() -> None:
    import time

    out, err = FakeTTY(), FakeTTY()
    con = Console(file=out, width=40, color_system=None, force_terminal=False)
    term = Terminal(stdout=out, stderr=err, plain=False, console=con)
    with term.spinner("waiting for gpt-4o"):
        time.sleep(0.4)
        assert "⠋ waiting for gpt-4o" in err.getvalue()
        term.status("rate limited; retrying in 1.0s")  # printed above; the spinner goes on
        time.sleep(0.3)
        term.write_answer("Hi")
        shown = err.getvalue()
        time.sleep(0.2)
        assert err.getvalue() == shown  # stopped at the first write
    term.end_answer()
    assert shown.endswith("\r\x1b[2K") and "\x1b[2m" in shown
    before, after = shown.split("rate limited; retrying in 1.0s")
    assert before.endswith("\r\x1b[2K\x1b[2m") and "waiting for gpt-4o" in after
    assert replay(shown, 40, 5) == ["rate limited; retrying in 1.0s"]
    assert out.getvalue() == "Hi" + " " * 38 + "\n"

    for quiet in (
        Terminal(stdout=FakeTTY(), stderr=io.StringIO()),
        Terminal(stdout=FakeTTY(), stderr=FakeTTY(), plain=True),
    ):
        with quiet.spinner():
            time.sleep(0.3)
        assert quiet.err.getvalue() == ""  # type: ignore[attr-defined]


def test_importing_the_terminal_does_not_import_rich() -> None:
    import json
    import subprocess
    import sys

    from .clihelp import SRC

    code = "import talkline.cli.output.terminal, sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC},
        check=True,
    ).stdout
    modules = set(json.loads(out))
    assert not {m for m in modules if m == "rich" or m.startswith(("rich.", "markdown_it"))}
