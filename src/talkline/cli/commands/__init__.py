"""talkline.cli.commands."""
