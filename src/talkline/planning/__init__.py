"""talkline.planning."""
