"""talkline.cli.output."""
