"""talkline.cli.repl."""
