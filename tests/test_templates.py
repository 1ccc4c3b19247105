"""The templates package on its own: the TOML it writes reads back equal, variables and
`$$`, `$os`/`$shell`, the checks of each field, the listing with a broken file."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from talkline.errors import ConfigError
from talkline.templates import listing, load, parse, render, save, variables
from talkline.templates.load import toml_loads
from talkline.templates.toml_text import dumps

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_scalar = st.one_of(_text, st.integers(-10**6, 10**6), st.booleans(),
                    st.floats(allow_nan=False, allow_infinity=False))
_table = st.dictionaries(_text.filter(bool), st.one_of(_scalar, st.lists(_text, max_size=4)),
                         max_size=4)


@given(st.dictionaries(_text.filter(bool), st.one_of(_scalar, _table), max_size=6))
def test_what_is_written_reads_back_equal(data):
    assert toml_loads(dumps(data)) == data


def test_a_key_ending_in_a_newline_is_quoted():
    # `$` in a regex also matches before a final newline: the bare-key check is whole.
    assert toml_loads(dumps({"0\n": "", "a": {"b\n": 1}})) == {"0\n": "", "a": {"b\n": 1}}


def test_a_multi_line_text_is_written_as_a_readable_block():
    text = dumps({"system": "line one\nline two with 'quotes' and \\ back"})
    assert text == "system = '''\nline one\nline two with 'quotes' and \\ back'''\n"


def test_variables_dollars_and_the_automatic_ones(monkeypatch):
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    t = parse("t", {"system": "On $os in ${shell}, costs $$5", "prompt": "$who: $input"},
              None)
    assert variables(t.prompt) == ["who", "input"]
    system, message = render(t, {"who": "me"}, "hello\n")
    assert system is not None and system.endswith("in fish, costs $5")
    assert message == "me: hello"
    with pytest.raises(ConfigError, match=r'template "t" needs \$who: add --var who VALUE'):
        render(t, {}, "x")
    with pytest.raises(ConfigError, match=r"--var input: .* has no \$input"):
        render(t, {"who": "me", "input": "y"}, "x")


@pytest.mark.parametrize(("data", "said"), [
    ({"system": "a $input"}, "system cannot use $input"),
    ({"system": 3}, 'system must be a string, e.g. system = "..."'),
    ({"functions": [1]}, "functions must be a path to a .py file"),
    ({"params": {"top_p": 5}}, "[params] top_p"),
    ({"params": {"nonsense": 1}}, "unknown request parameter 'nonsense'"),
    ({"defaults": {"x": True}}, "[defaults] must be a table"),
    ({"schema": 5}, "schema must be a string"),
    ({"schema_multi": "yes"}, "schema_multi must be true or false"),
])
def test_each_field_is_checked(data, said):
    with pytest.raises(ConfigError) as info:
        parse("t", data, Path("/x/t.toml"))
    assert said in info.value.message and "/x/t.toml" in info.value.message


def test_roles_are_only_a_system_prompt_and_ship_in_the_package(tmp_path):
    for name in ("editor", "shell", "explain"):
        role = load(name, tmp_path)
        assert role.is_role and role.builtin and role.system
        assert string.Template(role.system).pattern  # they load and render
        render(role, {}, "")
    assert "no markdown fences" in (load("shell", tmp_path).system or "")
    assert not parse("t", {"system": "s", "model": "m"}, None).is_role


def test_listing_shows_a_broken_file_with_its_error_and_save_refuses_overwriting(tmp_path):
    folder = tmp_path / "templates"
    path = save("ok", {"system": "fine"}, folder)
    (folder / "broken.toml").write_text("system = [", encoding="utf-8")
    rows = {e.name: e for e in listing(folder)}
    assert rows["ok"].kind == "role" and rows["ok"].path == str(path)
    assert rows["broken"].error is not None and "not valid TOML" in rows["broken"].error
    with pytest.raises(ConfigError, match="exists already"):
        save("ok", {"system": "other"}, folder)
    assert save("ok", {"system": "other"}, folder, force=True).read_text() == \
        'system = "other"\n'
