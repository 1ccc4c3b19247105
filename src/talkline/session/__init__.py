"""talkline.session."""
