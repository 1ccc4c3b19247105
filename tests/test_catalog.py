"""The model catalog: shipped data, aliases, config.toml overrides, the table."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import pytest

from talkline.cli.commands.catalog import print_catalog
from talkline.cli.output.terminal import Terminal
from talkline.errors import ConfigError
from talkline.planning.catalog import Catalog, ModelInfo, default_catalog, lookup
from talkline.planning.tokens import encoding_for_model
from talkline.planning.user_catalog import catalog_for
from talkline.settings import Settings

# The project's reference table (REFERENCE.md, which lives outside the repository, so the
# suite does not read it), pinned row by row: context, max output, input, cached input,
# output, batch in / out.
REFERENCE_ROWS = {
    "gpt-4o": (128_000, 16_384, 2.50, 1.25, 10.00, 1.25, 5.00),
    "gpt-4o-mini": (128_000, 16_384, 0.15, 0.075, 0.60, 0.075, 0.30),
    "gpt-3.5-turbo": (16_385, 4_096, 0.50, None, 1.50, 0.25, 0.75),  # batch: genai-prices
}


def _row(info: ModelInfo) -> tuple[object, ...]:
    return (info.context_window, info.max_output, info.input, info.cached_input, info.output,
            info.batch_input, info.batch_output)


@pytest.mark.parametrize("model", sorted(REFERENCE_ROWS))
def test_reference_rows_are_exact(model: str) -> None:
    info = lookup(model)
    assert info is not None
    assert _row(info) == REFERENCE_ROWS[model]
    assert info.source is not None and info.source.startswith("litellm 1.110.2 (PyPI)")


def test_every_entry_is_complete_and_dated() -> None:
    catalog = default_catalog()
    assert len(catalog) >= 20
    for info in catalog:
        assert info.context_window and info.max_output, info.name
        assert info.max_output <= info.context_window, info.name
        assert info.input is not None and info.output is not None, info.name
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", info.read_on or ""), info.name
        assert info.source, info.name
        for price in (info.input, info.cached_input, info.output, info.batch_input,
                      info.batch_output, info.batch_cached_input):
            assert price is None or price >= 0, info.name
        if info.max_input is not None:
            assert info.max_input <= info.context_window, info.name
        for date in (info.retired, info.retires):
            assert date is None or dt.date.fromisoformat(date), info.name
        if info.cached_input is not None:
            assert info.cached_input <= info.input, info.name
        if info.batch_input is not None:
            assert info.batch_input <= info.input and info.batch_output is not None, info.name
        if info.name != "local" and info.api != "completions":
            assert encoding_for_model(info.name) is not None, info.name


def test_current_line_up_is_present() -> None:
    for name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1",
                 "o1-mini", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano",
                 "gpt-3.5-turbo", "gpt-4-turbo", "gpt-4", "chatgpt-4o-latest", "local"):
        assert name in default_catalog(), name


def test_local_model_is_free_with_the_gguf_window() -> None:
    info = lookup("local")
    assert info is not None
    assert info.context_window == 8192
    assert (info.input, info.output) == (0, 0)


@pytest.mark.parametrize(
    ("name", "resolved"),
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an entry of its own wins
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-35-turbo", "gpt-3.5-turbo"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4-1106-preview", "gpt-4-1106-preview"),  # retired apart from gpt-4-turbo
        ("o3-mini-2025-01-31", "o3-mini"),
        ("openai/gpt-4o", "gpt-4o"),
        ("openrouter/openai/gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-5-nano-2025-08-07", "gpt-5-nano"),
        ("ft:gpt-4o-mini-2024-07-18:acme::x1", None),  # fine-tunes are priced apart
        ("llama3.2", None),
        ("gpt-4o-mini-tts", None),
    ],
)
def test_alias_resolution(name: str, resolved: str | None) -> None:
    assert default_catalog().resolve(name) == resolved
    info = lookup(name)
    assert (info.name if info else None) == resolved


def test_overrides_change_fields_and_add_models() -> None:
    catalog = Catalog.load({
        "gpt-4o": {"input": 2.0, "max_output": 8000},
        "my-llama": {"context_window": 32768, "input": 0, "output": 0, "aliases": ["ml"]},
    })
    gpt = catalog.lookup("gpt-4o-2024-11-20")
    assert gpt is not None
    assert (gpt.input, gpt.output, gpt.max_output, gpt.context_window) == (2.0, 10.0, 8000,
                                                                           128_000)
    assert gpt.source == "config.toml"
    mine = catalog.lookup("ml")
    assert mine is not None and mine.name == "my-llama" and mine.context_window == 32768
    assert mine.max_output is None and mine.cached_input is None
    # The shipped catalog is untouched.
    assert lookup("gpt-4o") is not None and lookup("gpt-4o").input == 2.50  # type: ignore[union-attr]


def test_an_override_for_a_snapshot_starts_from_its_family() -> None:
    catalog = Catalog.load({"gpt-4o-2024-08-06": {"output": 12.0}})
    snap = catalog.lookup("gpt-4o-2024-08-06")
    family = catalog.lookup("gpt-4o")
    assert snap is not None and family is not None
    assert snap.name == "gpt-4o-2024-08-06" and snap.output == 12.0 and snap.input == 2.50
    assert family.output == 10.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"inptu": 1.0}, "Unknown field(s) 'inptu' in [catalog.m] in config.toml"),
        ({"input": "cheap"}, "input in [catalog.m] in config.toml must be a price"),
        ({"input": -1}, "must be a price"),
        ({"context_window": 1.5}, "context_window in [catalog.m] in config.toml must be a "
                                  "positive whole number"),
        ({"context_window": True}, "positive whole number"),
        ({"aliases": "x"}, "aliases in [catalog.m] in config.toml must be a list"),
    ],
)
def test_bad_overrides_name_the_table_and_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Catalog.load({"m": spec})
    assert message in str(info.value)


def test_user_catalog_reads_config_toml(talkline_home: Path) -> None:
    (talkline_home / "config.toml").write_text(
        'model = "gpt-4o"\n\n[catalog.house-model]\ncontext_window = 4096\ninput = 1\n'
        "output = 2\n"
    )
    catalog = catalog_for(Settings.resolve())
    info = catalog.lookup("house-model")
    assert info is not None and info.context_window == 4096
    assert "gpt-4o" in catalog


def test_user_catalog_without_a_table_is_the_shipped_one() -> None:
    assert catalog_for(Settings.resolve()) is default_catalog()


def _terminal() -> tuple[Terminal, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Terminal(stdout=out, stderr=err), out, err


def test_print_catalog_table() -> None:
    term, out, err = _terminal()
    print_catalog(False, catalog=Catalog.load(), terminal=term)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["model", "context", "max", "in", "max", "out", "input",
                                "cached", "output", "batch", "in", "batch", "out", "tier",
                                "state", "read", "on"]
    row = next(line for line in lines if line.startswith("gpt-4o-mini "))
    assert row.split() == ["gpt-4o-mini", "128,000", "128,000", "16,384", "0.15", "0.075",
                           "0.60", "0.075", "0.30", "-", "retires", "2027-01-14", "2026-12-01"]
    row = next(line for line in lines if line.startswith("gpt-3.5-turbo "))
    assert row.split()[5:9] == ["-", "1.50", "0.25", "0.75"]
    row = next(line for line in lines if line.startswith("gpt-5.4 "))
    assert ">272k" in row.split()
    row = next(line for line in lines if line.startswith("gpt-4.5-preview "))
    assert "retired" in row.split() and "2025-07-14" in row.split()
    assert "USD per 1M tokens" in err.getvalue()


def test_print_catalog_json() -> None:
    term, out, _ = _terminal()
    print_catalog(True, catalog=Catalog.load({"x": {"input": 1, "output": 2}}), terminal=term)
    data = json.loads(out.getvalue())
    names = [d["name"] for d in data]
    assert names == sorted(names) and "x" in names
    gpt = next(d for d in data if d["name"] == "gpt-4o")
    assert gpt["batch_output"] == 5.0 and gpt["aliases"] == []
