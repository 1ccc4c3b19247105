"""talkline.wire."""
