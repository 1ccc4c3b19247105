"""`talkline serve`: the OpenAI-compatible gateway and its web chat page (the `[serve]` extra).

Only the CLI imports this package; starlette and uvicorn are imported only here.
"""
