"""`talkline serve`: an OpenAI-compatible gateway with talkline's client core behind it.

Only `talkline.cli` imports this package; starlette and uvicorn are imported only here
(the `[serve]` extra).
"""
