"""`talkline batch`: a file of prompts, run locally at the rate limit or through the Batch API.

The work is in `talkline.batch`; this module parses flags, wires Ctrl-C to the runner,
and draws progress (rich, on stderr, only when stderr is a terminal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..app import App, current_app
from ..output.batch_view import (
    ProgressView,
    batch_errors,
    counts,
    money,
    print_summary,
    show_batches,
    stop_with_notice,
)
from ._batch_options import (
    RUN_RETRIES,
    SUBMIT_RETRIES,
    connection_options,
    default_output,
    input_flags,
    retries_default,
    with_budget,
)
from .options import request_options

if TYPE_CHECKING:
    from ...batch import BatchAPI, BatchSummary, InputOptions, InputReport, SubmittedBatch
    from ...batch._input import InputFormat
    from ...planning.catalog import Catalog
    from ...settings import Settings
    from ..output.terminal import Terminal


@click.group()
def batch() -> None:
    """Many prompts at once: `run` them here at your rate limit (resumable), or `submit`
    them to the provider's Batch API (half price, answers within 24 h).

    \b
    talkline batch run prompts.jsonl -m gpt-4o-mini --max-tokens 300
    talkline batch run questions.txt --text -s "Answer in one line" --ordered
    talkline batch submit prompts.jsonl  ...then: status --wait ID, fetch ID -o out.jsonl
    """


def _input_options(path: Path, app: App, as_text: bool, column: str | None,
                   id_column: str | None) -> InputOptions:
    from ...batch import InputOptions

    if as_text and column:
        raise click.UsageError("--text and --column do not go together.")
    fmt: InputFormat = ("text" if as_text else
                        "csv" if column or path.suffix.lower() == ".csv" else "jsonl")
    if fmt == "csv" and not column:
        raise click.UsageError("A CSV input needs --column NAME (the prompt column).")
    request = app.request(None)
    params = {k: v for k, v in request.params.to_body().items() if k != "model"}
    return InputOptions(format=fmt, column=column, id_column=id_column, model=request.model,
                        system=request.system, params=params)


def _catalog(settings: Settings) -> Catalog | None:
    from ...planning.catalog import Catalog

    catalog: object = getattr(settings, "catalog", None)
    try:
        made: object = catalog() if callable(catalog) else None
    except Exception:  # a broken [catalog] table only costs us the prices
        return None
    return made if isinstance(made, Catalog) else None


def _scan(path: Path, options: InputOptions, skip_invalid: bool, term: Terminal
          ) -> InputReport:
    from ...batch import InvalidInputError, scan_input

    report = scan_input(path, options)
    if not report.ok and not skip_invalid:
        raise InvalidInputError(report)
    if not report.ok:
        for problem in report.problems[:20]:
            term.warn(f"{path}: {problem}")
        more = report.problem_count - min(20, len(report.problems))
        term.warn(f"Skipping {report.problem_count} invalid line(s)"
                  + (f" ({more} not shown)" if more > 0 else "") + ".")
    return report


# ---------------------------------------------------------------- run


@batch.command("run")
@click.argument("input_path", metavar="INPUT",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_budget
@retries_default(RUN_RETRIES)
@request_options
@input_flags
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Results file (default: INPUT.results.jsonl next to the input).")
@click.option("--rpm", type=click.FloatRange(min=0, min_open=True),
              help="Requests per minute allowed (default: `rpm` in config.toml, else "
                   "learnt from the headers).")
@click.option("--tpm", type=click.FloatRange(min=0, min_open=True),
              help="Tokens per minute allowed (default: `tpm` in config.toml, else "
                   "learnt from the headers).")
@click.option("--concurrency", type=click.IntRange(1, 5000), default=100, show_default=True,
              help="Most requests in flight at once.")
@click.option("--ordered", is_flag=True, help="Write results in input order.")
@click.option("--skip-invalid", is_flag=True, help="Send the valid lines, skip the others.")
@click.option("--retry-failed", is_flag=True,
              help="Send again the lines a previous run wrote with an error.")
@click.option("--log", "log_answers", is_flag=True,
              help="Store each answer as a conversation (see `talkline history`).")
@click.option("--grace", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds requests in flight may take to finish after Ctrl-C.")
def run(input_path: Path, as_text: bool, column: str | None, id_column: str | None,
        output: Path | None, rpm: float | None, tpm: float | None, concurrency: int,
        ordered: bool, skip_invalid: bool, retry_failed: bool, log_answers: bool, grace: float,
        **opts: Any) -> int:
    """Send every request in INPUT, at the rate limit, into a JSONL results file.

    INPUT is JSONL in the Batch API's format ({"custom_id", "method", "url", "body"}) or
    simpler lines ({"prompt": ..., "id": ...}), plain text with --text, or CSV with
    --column. Flags (-m, -s, -t, --max-tokens, ...) apply to lines that do not set them.

    Transient failures are retried (see --retries). Run the same command again to
    resume: lines already answered are skipped. Exit status: 0 all answered, 1 some
    failed or left, 2 invalid input, 130 interrupted.
    """
    import asyncio

    from ...batch import (
        BatchRunner,
        ConversationLog,
        batch_client,
        check_output_is_not_input,
        iter_requests,
    )
    from ...types import ChatParams

    app = current_app()
    term = app.term
    budget = app.use_flags(opts).budget
    settings = app.settings
    if budget is not None and budget <= 0:
        raise click.UsageError("--budget must be more than 0.")
    app.announce()
    options = _input_options(input_path, app, as_text, column, id_column)
    report = _scan(input_path, options, skip_invalid, term)
    if report.without_max_tokens and (tpm or settings.tpm or budget is not None):
        term.warn(f"{report.without_max_tokens} line(s) set no max_tokens: each is counted "
                  "as a long answer against the TPM limit"
                  + (" and the budget" if budget is not None else "")
                  + ". Set --max-tokens to go faster.")
    output = output or default_output(input_path)
    check_output_is_not_input(output, input_path)

    store = None
    log = None
    if log_answers:
        from ...store import ConversationStore

        store = ConversationStore.open(settings.paths)
        log = ConversationLog(store)
    view = ProgressView(term)
    runner = BatchRunner(
        None, output, concurrency=concurrency, ordered=ordered, budget=budget,
        on_progress=view.update, log=log, retry_failed=retry_failed, grace=grace,
        catalog=_catalog(settings),
    )
    client_settings = settings.replace(
        params=ChatParams(),  # the defaults are already in each line's body
        rpm=rpm or settings.rpm, tpm=tpm or settings.tpm,
    )

    async def main() -> BatchSummary:
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop_with_notice, runner, view)
            except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                signal.signal(sig, lambda *_: stop_with_notice(runner, view))
        async with batch_client(client_settings, concurrency=concurrency,
                                retries=settings.retries,
                                on_retry=runner.note_retry,
                                on_warning=current_app().term.warn) as client:
            runner.client = client
            return await runner.run(iter_requests(input_path, options, report=report),
                                    total=report.valid)

    try:
        view.start(report.valid)
        summary = asyncio.run(main())
    finally:
        view.stop()
        if log is not None:
            log.close()
        if store is not None:
            store.close()
    print_summary(term, summary, log)
    return int(summary.exit_code)


# ---------------------------------------------------------------- the Batch API


def _api(settings: Settings, retries: int | None = None) -> BatchAPI:
    from ...batch import BatchAPI

    warn = current_app().term.warn
    if retries is None:
        return BatchAPI.from_settings(settings, on_warning=warn)
    return BatchAPI.from_settings(settings, retries=retries, on_warning=warn)


def _plain_settings(base_url: str | None, api_key: str | None) -> Settings:
    from ...settings import Settings

    return Settings.resolve(base_url=base_url, api_key=api_key)


@batch.command("submit")
@click.argument("input_path", metavar="INPUT",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@retries_default(SUBMIT_RETRIES)
@request_options
@input_flags
@click.option("--skip-invalid", is_flag=True, help="Submit the valid lines, skip the others.")
@click.option("--max-lines", type=click.IntRange(1, 50_000), default=50_000, show_default=True,
              help="Most requests per batch (bigger inputs are split).")
@click.option("--metadata", nargs=2, multiple=True, metavar="KEY VALUE",
              help="Metadata stored with each batch (repeatable).")
def submit_cmd(input_path: Path, as_text: bool, column: str | None, id_column: str | None,
               skip_invalid: bool, max_lines: int, metadata: tuple[tuple[str, str], ...],
               **opts: Any) -> None:
    """Validate INPUT, upload it and create Batch API batches; print their ids.

    Inputs over 50,000 lines or 200 MB are split into several batches (one id a line).
    """
    from ...batch import submit

    app = current_app()
    term = app.term
    app.use_flags(opts)
    settings = app.settings
    options = _input_options(input_path, app, as_text, column, id_column)
    report = _scan(input_path, options, skip_invalid, term)

    def created(b: SubmittedBatch) -> None:
        term.status(f"Part {b.part}: {b.lines:,} requests ({b.bytes / 1e6:.1f} MB) uploaded "
                    f"as {b.file.get('id')}; batch {b.id} is {b.batch.get('status')}.")
        term.write_line(b.id)

    with _api(settings, retries=settings.retries) as api:
        result = submit(input_path, api, options, skip_invalid=skip_invalid,
                        max_lines=max_lines, metadata=dict(metadata), report=report,
                        on_batch=created)
    ids = " ".join(b.id for b in result.batches)
    term.status(f"Follow with: talkline batch status --wait {ids}")


@batch.command("status")
@click.argument("batch_ids", metavar="ID...", nargs=-1, required=True)
@connection_options
@click.option("--wait", is_flag=True, help="Poll until every batch is finished.")
@click.option("--interval", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="First poll interval in seconds (grows to 60).")
@click.option("--json", "as_json", is_flag=True, help="Print the Batch objects as JSON.")
def status_cmd(batch_ids: tuple[str, ...], base_url: str | None, api_key: str | None,
               wait: bool, interval: float, as_json: bool) -> int:
    """Show batches' status and request counts; --wait until they finish (exit 1 if one
    did not complete)."""
    term = current_app().term
    with _api(_plain_settings(base_url, api_key)) as api:
        if not wait:
            batches = [api.retrieve(b) for b in batch_ids]
        else:
            seen: dict[str, str] = {}

            def changed(current: Sequence[Mapping[str, object]]) -> None:
                for b in current:
                    line = f"{b.get('id')}: {b.get('status')}, {counts(b)}"
                    if seen.get(str(b.get("id"))) != line:
                        seen[str(b.get("id"))] = line
                        term.status(line)

            batches = api.wait(list(batch_ids), on_update=changed, interval=interval)
    if as_json:
        term.write_json(batches if len(batches) > 1 else batches[0])
    else:
        show_batches(term, batches)
    return 1 if wait and any(b.get("status") != "completed" for b in batches) else 0


@batch.command("fetch")
@click.argument("batch_ids", metavar="ID...", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the merged results (JSONL).")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False,
                                                       path_type=Path),
              help="The submitted input: results follow its order (else custom_id order).")
@input_flags
@click.option("--log", "log_answers", is_flag=True,
              help="Store the answers as conversations (needs --input).")
@connection_options
def fetch_cmd(batch_ids: tuple[str, ...], output: Path, input_path: Path | None, as_text: bool,
              column: str | None, id_column: str | None, log_answers: bool,
              base_url: str | None, api_key: str | None) -> int:
    """Download the results of finished batches, merged into one line per custom_id.

    Exit status 1 when some requests failed (their lines carry the error) or a batch
    was refused.
    """
    from ...batch import ConversationLog, check_output_is_not_input, fetch_results

    if log_answers and input_path is None:
        raise click.UsageError("--log needs --input (the prompts are not in the results).")
    if input_path is not None:
        check_output_is_not_input(output, input_path)
    app = current_app()
    term = app.term
    settings = app.use_settings(_plain_settings(base_url, api_key))
    options = (_input_options(input_path, app, as_text, column, id_column)
               if input_path is not None else None)
    store = log = None
    if log_answers:
        from ...store import ConversationStore

        store = ConversationStore.open(settings.paths)
        log = ConversationLog(store)
    try:
        with _api(settings) as api:
            s = fetch_results(api, list(batch_ids), output, input_path=input_path,
                              input_options=options, log=log, catalog=_catalog(settings))
    finally:
        if log is not None:
            log.close()
        if store is not None:
            store.close()
    cost = "" if s.cost is None else f"; cost at batch prices {money(s.cost, s.cost_estimated)}"
    term.status(f"Wrote {s.lines} results to {output}: {s.succeeded} answered, "
                f"{s.failed} failed{cost}.")
    term.status(f"Tokens: {s.prompt_tokens:,} prompt + {s.completion_tokens:,} completion.")
    if s.missing_count:
        term.warn(f"{s.missing_count} input line(s) have no result: "
                  + ", ".join(s.missing) + ("..." if s.missing_count > len(s.missing) else ""))
    if log is not None:
        term.status(f"Stored {log.stored} conversation(s).")
    for model in sorted(s.unpriced_models):
        term.warn(f"No price known for {model}: its costs are not counted.")
    refused = [b for b in s.batches if b.get("status") == "failed"]
    batch_errors(term, refused)
    return 1 if s.failed or s.missing_count or refused else 0


@batch.command("cancel")
@click.argument("batch_ids", metavar="ID...", nargs=-1, required=True)
@connection_options
def cancel_cmd(batch_ids: tuple[str, ...], base_url: str | None, api_key: str | None) -> None:
    """Cancel batches (requests already answered stay in their results)."""
    term = current_app().term
    with _api(_plain_settings(base_url, api_key)) as api:
        for batch_id in batch_ids:
            b = api.cancel(batch_id)
            term.write_line(f"{b.get('id')}: {b.get('status')}")


@batch.command("list")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the Batch objects as JSON.")
@connection_options
def list_cmd(limit: int, as_json: bool, base_url: str | None, api_key: str | None) -> None:
    """Recent batches, newest first."""
    term = current_app().term
    with _api(_plain_settings(base_url, api_key)) as api:
        batches = api.list_batches(limit=limit)
    if as_json:
        term.write_json(batches)
    elif not batches:
        term.status("No batches yet. Create one with: talkline batch submit FILE")
    else:
        show_batches(term, batches)
