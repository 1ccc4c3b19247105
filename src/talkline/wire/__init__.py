"""talkline.wire: the only code that speaks HTTP (httpx).

`connection` holds one attempt of one request (base URL, auth and User-Agent headers,
timeouts, the plain-http warning, key redaction, transport and status error mapping);
`chat`, `models`, `files`, `batches` and `tokenize` are thin endpoint modules on it, and
`pools` spreads many concurrent requests over several small connection pools. Retries and
rate limits wrap it from outside (`talkline.retry`, `talkline.ratelimit`). Importing this
package imports nothing: the modules load httpx only when used.
"""
