"""The one export format: its exact shapes, a round trip that keeps every field and every
branch, and the older talkline exports still importing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from talkline.errors import ConfigError
from talkline.store import ConversationStore
from talkline.store.export import EXPORT_VERSION, export_text, format_for_path
from talkline.store.imports import import_text, read_export
from talkline.types import ToolCall

CALL = ToolCall(id="c1", name="add", arguments='{"a": 1}')


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore(tmp_path / "talkline.db") as s:
        yield s


def _branched(store: ConversationStore) -> str:
    """A conversation with a tool call, usage and cost, and a retried (branched) reply."""
    conv = store.create_conversation(model="gpt-4o", system="Be terse.",
                                     params={"temperature": 0.2})
    user = store.append_message(conv.id, "user", "What is 1 + 1?")
    store.append_message(conv.id, "assistant", "Three.", status="interrupted", model="gpt-4o-x")
    store.append_message(conv.id, "assistant", None, parent_id=user.id, tool_calls=[CALL],
                         model="gpt-4o-x", prompt_tokens=12, completion_tokens=3, cost=0.25)
    store.append_message(conv.id, "tool", "2", tool_call_id="c1")
    store.append_message(conv.id, "assistant", "Two.", model="gpt-4o-x", prompt_tokens=20,
                         completion_tokens=2, cached_tokens=4, cost=0.5)
    return conv.id


_VOLATILE = {"id", "conversation_id", "parent_id", "head_message_id", "created", "updated"}


def _strip(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _VOLATILE}


def test_json_round_trip_keeps_every_field_and_every_branch(store: ConversationStore) -> None:
    cid = _branched(store)
    first = json.loads(export_text(store, cid, "json"))
    copy = import_text(store, export_text(store, cid, "json"), source="conv.json")
    again = json.loads(export_text(store, copy.id, "json"))

    assert _strip(again["conversation"]) == _strip(first["conversation"])
    assert [_strip(m) for m in again["messages"]] == [_strip(m) for m in first["messages"]]
    assert [m["created"] for m in again["messages"]] == [m["created"] for m in first["messages"]]
    # the tree: the interrupted reply and the tool call both answer the same user message
    ids = {m["id"]: i for i, m in enumerate(again["messages"])}
    parents = [None if m["parent_id"] is None else ids[m["parent_id"]] for m in again["messages"]]
    assert parents == [None, 0, 0, 2, 3]
    assert [m.text for m in store.messages(copy.id)] == ["What is 1 + 1?", "", "2", "Two."]
    assert (copy.turns, copy.prompt_tokens, copy.completion_tokens) == (1, 32, 5)
    assert copy.cost == pytest.approx(0.75)
    assert (copy.title, copy.model, copy.system, copy.params) == (
        "What is 1 + 1?", "gpt-4o", "Be terse.", {"temperature": 0.2})


def test_json_shape(store: ConversationStore) -> None:
    cid = _branched(store)
    data = json.loads(export_text(store, cid, "json"))
    assert list(data) == ["format", "version", "conversation", "messages"]
    assert (data["format"], data["version"]) == ("talkline.conversation", EXPORT_VERSION) == (
        "talkline.conversation", 4)
    assert set(data["conversation"]) == {
        "id", "title", "created", "updated", "model", "system", "params", "head_message_id",
        "turns", "prompt_tokens", "completion_tokens", "cost", "client"}
    call = data["messages"][2]
    for key in ("role", "content", "status", "tool_calls", "tool_call_id", "model",
                "prompt_tokens", "completion_tokens", "cached_tokens", "cost", "parent_id"):
        assert key in call
    assert call["tool_calls"] == [{"id": "c1", "type": "function",
                                   "function": {"name": "add", "arguments": '{"a": 1}'}}]
    assert (call["prompt_tokens"], call["cost"]) == (12, 0.25)
    assert data["messages"][1]["status"] == "interrupted"
    assert data["conversation"]["head_message_id"] == data["messages"][-1]["id"]


def test_openai_shape_is_the_active_branch_the_api_accepts(store: ConversationStore) -> None:
    cid = _branched(store)
    assert json.loads(export_text(store, cid, "openai")) == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is 1 + 1?"},
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "add", "arguments": '{"a": 1}'}}]},
        {"role": "tool", "content": "2", "tool_call_id": "c1"},
        {"role": "assistant", "content": "Two."},
    ]


def test_markdown_shape(store: ConversationStore) -> None:
    cid = _branched(store)
    conv = store.get_conversation(cid)
    text = export_text(store, cid, "md")
    head = text.split("\n", 3)
    assert head[:3] == ["# What is 1 + 1?", "", head[2]]
    assert head[2].startswith(f"`{conv.id}` · ") and head[2].endswith(" · gpt-4o")
    assert text.split("\n", 4)[4] == (
        "## System\n\nBe terse.\n\n"
        "## User\n\nWhat is 1 + 1?\n\n"
        "## Assistant (gpt-4o-x)\n\n"
        '- tool call: `add({"a": 1})`\n\n'
        "## Tool\n\n2\n\n"
        "## Assistant (gpt-4o-x)\n\nTwo.\n"
    )


def test_the_dispatch_refuses_an_unknown_format_and_picks_by_file_name(
    store: ConversationStore,
) -> None:
    cid = _branched(store)
    with pytest.raises(ConfigError, match=r"Unknown export format 'yaml': use one of md, json"):
        export_text(store, cid, "yaml")
    assert (format_for_path("a.JSON"), format_for_path("a.md"), format_for_path("a")) == (
        "json", "md", "md")


# The two shapes older talkline versions wrote, byte for byte as they wrote them.
OLD_EXPORT = {
    "talkline_export": 1,
    "conversation": {"id": "abc", "title": "Old one", "created": 1700000000.0,
                     "updated": 1700000100.0, "model": "gpt-4o-mini", "system": "Be brief.",
                     "params": {"temperature": 0.5}, "head_message_id": 8, "turns": 1,
                     "prompt_tokens": 9, "completion_tokens": 2, "cost": 0.01},
    "messages": [
        {"id": 7, "conversation_id": "abc", "parent_id": None, "position": 0, "role": "user",
         "content": "Hi", "created": 1700000000.0, "status": "complete", "tool_calls": []},
        {"id": 8, "conversation_id": "abc", "parent_id": 7, "position": 1,
         "role": "assistant", "content": "Hello.", "created": 1700000050.0,
         "status": "complete", "model": "gpt-4o-mini-2024", "prompt_tokens": 9,
         "completion_tokens": 2, "cost": 0.01, "tool_calls": []},
    ],
}
OLD_STORE_EXPORT = {
    "format": "talkline.conversation/1",
    **OLD_EXPORT["conversation"],  # type: ignore[dict-item]
    "messages": OLD_EXPORT["messages"],
}


@pytest.mark.parametrize("old", [OLD_EXPORT, OLD_STORE_EXPORT], ids=["talkline_export-1",
                                                                   "conversation-1"])
def test_older_exports_still_import(store: ConversationStore, old: dict[str, Any]) -> None:
    conv = import_text(store, json.dumps(old), source="old.json")
    assert (conv.title, conv.model, conv.system, conv.params) == (
        "Old one", "gpt-4o-mini", "Be brief.", {"temperature": 0.5})
    assert (conv.turns, conv.prompt_tokens, conv.completion_tokens) == (1, 9, 2)
    path = store.messages(conv.id)
    assert [(m.role, m.text, m.created) for m in path] == [
        ("user", "Hi", 1700000000.0), ("assistant", "Hello.", 1700000050.0)]
    assert (path[1].model, path[1].cost) == ("gpt-4o-mini-2024", 0.01)
    assert path[1].parent_id == path[0].id


def test_an_openai_array_keeps_only_what_the_api_knows() -> None:
    got = read_export(json.dumps([
        {"role": "user", "content": "Hi", "model": "x"},
        {"role": "assistant", "content": "cut", "status": "interrupted"},
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    ]))
    assert got.version is None and got.messages == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    ]


@pytest.mark.parametrize(("data", "message"), [
    ({"format": "talkline.conversation", "version": 5, "messages": [{"role": "user"}]},
     "f.json was written by a newer talkline (export version 5; this one reads up to 4): "
     "upgrade talkline to import it."),
    ({"format": "talkline.conversation", "version": "two", "messages": [{"role": "user"}]},
     "f.json is a talkline export with no valid version (got 'two'): export it again with "
     "`talkline history export ID --format json`."),
    ({"format": "talkline.conversation", "version": 2, "messages": []},
     "f.json holds no messages: expected a JSON array of messages"),
    ([{"role": "user"}, {"role": "robot"}],
     "message 2 in f.json has no valid role (got 'robot'); roles are system, developer"),
])
def test_bad_files_are_refused_with_the_fix(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_export(json.dumps(data), source="f.json")
    assert str(info.value).startswith(message)
