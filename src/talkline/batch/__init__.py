"""Many requests at once: a local runner at the account's rate limit, and the provider's
Batch API (half price, answers within 24 h).

```python
from talkline.batch import batch_client, iter_requests, run_batch, scan_input

report = scan_input("prompts.jsonl")          # every bad line, with its number
async with batch_client(concurrency=100) as client:   # an AsyncClient, 8 retries
    summary = await run_batch(iter_requests("prompts.jsonl"), "prompts.results.jsonl",
                              client=client, total=report.valid)
```
Running it again with the same output resumes: lines already answered are skipped.

```
_input     one input line -> a request, or why the API would refuse it (pure)
_reader    reading and validating an input file, streamed
_output    the append-only results file, its lock, and resuming
_runner    BatchRunner / run_batch: the asyncio runner
_progress  BatchProgress and BatchSummary
_spending  costs so far, and --budget (reserving each request's worst case)
_records   result lines in the Batch API's shape; costs
_log       storing answers as conversations (--log)
_transport ShardedBackend (the remote backend on the wire's sharded pools), batch_client
_api       BatchAPI: /files and /batches through the wire, with the retry rules
_submit    validate, split to the 50,000-line / 200 MB limits, upload, create
_fetch     download output and error files, merge them by custom_id
```
"""

from __future__ import annotations

from ._api import TERMINAL_STATUSES, BatchAPI
from ._fetch import BatchNotReadyError, FetchSummary, fetch_results, natural_key
from ._input import (
    CHAT_URL,
    BatchRequest,
    InputOptions,
    InputReport,
    InvalidInputError,
    LineProblem,
    check_body,
)
from ._log import ConversationLog
from ._output import (
    OutputLockedError,
    ResultWriter,
    ResumeState,
    check_output_is_not_input,
    read_results,
    scan_results,
)
from ._progress import BatchProgress, BatchSummary
from ._reader import iter_requests, read_lines, scan_input
from ._runner import BatchRunner, run_batch
from ._submit import (
    MAX_BYTES,
    MAX_LINES,
    PartialSubmitError,
    SubmitResult,
    SubmittedBatch,
    split_requests,
    submit,
)
from ._transport import ShardedBackend, batch_client

__all__ = [
    "CHAT_URL",
    "MAX_BYTES",
    "MAX_LINES",
    "TERMINAL_STATUSES",
    "BatchAPI",
    "BatchNotReadyError",
    "BatchProgress",
    "BatchRequest",
    "BatchRunner",
    "BatchSummary",
    "ConversationLog",
    "FetchSummary",
    "InputOptions",
    "InputReport",
    "InvalidInputError",
    "LineProblem",
    "OutputLockedError",
    "PartialSubmitError",
    "ResultWriter",
    "ResumeState",
    "SubmitResult",
    "ShardedBackend",
    "SubmittedBatch",
    "batch_client",
    "check_body",
    "check_output_is_not_input",
    "fetch_results",
    "iter_requests",
    "natural_key",
    "read_lines",
    "read_results",
    "run_batch",
    "scan_input",
    "scan_results",
    "split_requests",
    "submit",
]
