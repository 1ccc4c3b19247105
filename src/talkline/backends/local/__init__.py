"""talkline.backends.local."""
