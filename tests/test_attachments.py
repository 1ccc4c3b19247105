"""The attachments package and what it feeds: sniffing, header sizes, the published image
token rules, PDF/audio estimates, the capability check, limits and the store's blobs."""

from __future__ import annotations

import pytest

from talkline.attachments import (
    Attachment,
    AttachmentError,
    check_total,
    describe,
    detect,
    format_sizes,
    image_size,
    load_attachment,
    to_stored,
)
from talkline.planning.catalog import default_catalog
from talkline.planning.inputs import check_inputs
from talkline.planning.media import audio_tokens, image_tokens, part_tokens, pdf_tokens
from talkline.planning.tokens import TokenCounter
from talkline.store import ConversationStore
from talkline.types import Message

from . import attachfiles as files


@pytest.mark.parametrize(("data", "mime", "size"), [
    (files.png(640, 480), "image/png", (640, 480)),
    (files.jpeg(1024, 768), "image/jpeg", (1024, 768)),
    (files.gif(), "image/gif", (1, 1)),
    (files.webp(300, 200), "image/webp", (300, 200)),
])
def test_images_are_known_by_their_bytes_and_sized_from_the_header(data, mime, size):
    assert detect(data).mime == mime
    assert image_size(data, mime) == size


def test_other_kinds_and_refusals_by_name():
    assert detect(files.pdf()).mime == "application/pdf"
    assert detect(files.wav()).mime == "audio/wav"
    assert detect(files.mp3()).mime == "audio/mpeg"
    assert detect(b"BMW notes\n").kind == "text"  # a short signature does not beat text
    assert detect(files.zip_file()).label.startswith("ZIP archive")
    assert detect(b"\x00\x01\x02binary").kind == ""
    assert detect("caf\xe9".encode("latin-1")).kind == ""  # not UTF-8


# OpenAI's worked examples ("Images and vision", calculating costs).
@pytest.mark.parametrize(("w", "h", "detail", "rule", "tokens"), [
    (1024, 1024, "high", "tiles-85-170", 765),
    (2048, 4096, "high", "tiles-85-170", 1105),
    (4096, 8192, "low", "tiles-85-170", 85),
    (1024, 1024, "auto", "tiles-85-170", 765),  # auto is estimated as high
    (1024, 1024, "high", "tiles-4o-mini", 2833 + 4 * 5667),
    (1024, 1024, "high", None, 765),  # no rule: gpt-4o's
])
def test_tile_rule_matches_the_published_examples(w, h, detail, rule, tokens):
    rules = default_catalog().image_rules
    assert image_tokens(w, h, rules.get(rule or ""), detail) == tokens


def test_patch_rule_matches_the_published_examples():
    plain = {"method": "patches", "multiplier": 1.0}
    assert image_tokens(1024, 1024, plain) == 1024
    assert image_tokens(1800, 2400, plain) == 1452
    mini = default_catalog().image_rules["patches-1.62"]
    assert image_tokens(1024, 1024, mini) == 1659  # 1024 x 1.62, rounded up


def test_pdf_and_audio_estimates():
    assert pdf_tokens(files.pdf(pages=3)) == 4500
    assert audio_tokens(files.wav(seconds=2.0), "wav") == 20
    assert audio_tokens(files.mp3(frames=40), "mp3") == 11  # 16,680 bytes at 128 kbit/s


def test_counting_a_prompt_uses_the_model_familys_rule():
    part = Attachment("cat.png", "image/png", "image", files.png(1024, 1024)).wire_part()
    messages = [Message("user", [{"type": "text", "text": "hi"}, part])]
    counter = TokenCounter()
    text_only = counter.count_messages([Message("user", "hi")], "gpt-4o").tokens
    assert counter.count_messages(messages, "gpt-4o").tokens == text_only + 765
    assert counter.count_messages(messages, "gpt-4o-mini").tokens == text_only + 25501
    assert not counter.count_messages(messages, "gpt-4o").exact
    assert part_tokens(part, None) == 765


def test_capability_check_names_the_model_and_one_that_can():
    catalog = default_catalog()
    image = Attachment("cat.png", "image/png", "image", files.png()).wire_part()
    text = Attachment("notes.txt", "text/plain", "text", b"hello").wire_part()
    with pytest.raises(AttachmentError) as err:
        check_inputs([Message("user", [image])], "local", catalog)
    assert str(err.value).startswith("local (the embedded model) cannot see images")
    assert "e.g. -m gpt-4o-mini" in str(err.value)
    check_inputs([Message("user", [text])], "local", catalog)  # text files are fine
    check_inputs([Message("user", [image])], "some-unknown-model", catalog)  # not checked
    check_inputs([Message("user", [image])], "gpt-4o-2024-08-06", catalog)


def test_total_limit_names_the_sum_and_the_fix():
    many = [Attachment(f"{i}.pdf", "application/pdf", "file", b"%PDF-" + b"x" * (20 << 20))
            for i in range(3)]
    with pytest.raises(AttachmentError) as err:
        check_total(many)
    assert "The 3 attachments add up to 60.0 MB, over the 50.0 MB limit for one message. " \
           "Send them over several messages." == str(err.value)


def test_a_large_image_names_file_size_and_limit(tmp_path):
    path = tmp_path / "huge.gif"
    path.write_bytes(files.gif() + b"\x00" * (20 << 20))
    with pytest.raises(AttachmentError) as err:
        load_attachment(str(path))
    size = len(files.gif()) + (20 << 20)
    # Rounded, both would read "20.0 MB": a size just over its limit is given in bytes.
    assert f"it is {size:,} bytes, over the {20 << 20:,} bytes limit for an image" \
        in str(err.value)


def test_sizes_far_from_their_limit_stay_short():
    assert format_sizes(60 << 20, 50 << 20) == ("60.0 MB", "50.0 MB")
    assert format_sizes((1 << 20) + 1, 1 << 20) == ("1,048,577 bytes", "1,048,576 bytes")
    assert format_sizes(1 << 20, 1 << 20) == ("1.0 MB", "1.0 MB")


def test_the_store_keeps_each_blob_once_and_expands_it():
    data = files.png(5, 5)
    att = Attachment("cat.png", "image/png", "image", data)
    with ConversationStore() as store:
        conv = store.create_conversation(model="gpt-4o")
        for _ in range(2):
            part, blob = att.stored_part()
            assert blob is not None
            store.append_message(conv.id, "user", [{"type": "text", "text": "look"}, part],
                                 blobs=[blob])
        store.append_message(conv.id, "user", [att.wire_part()])  # inline: extracted too
        assert store.blob_count() == 1
        stored = store.messages(conv.id)
        assert stored[0].parts is not None and stored[0].parts[1]["blob"] == att.sha256
        assert describe(stored[0].parts[1]) == (
            f"[image: cat.png, image/png, {len(data)} bytes, sha256 {att.sha256[:8]}…]")
        assert store.expand(stored[0]).content == [{"type": "text", "text": "look"},
                                                   att.wire_part()]
        assert store.expand(stored[2]).content == [att.wire_part()]


def test_to_stored_leaves_urls_and_text_alone():
    url = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    text = {"type": "text", "text": "hi"}
    assert to_stored([text, url]) == ([text, url], [])
