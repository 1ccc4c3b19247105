"""`talkline usage`: tokens and cost by day, model and conversation."""

from __future__ import annotations

import click

from ..app import current_app

FREE = "free (embedded model)"


@click.command()
@click.option("--since", default="30d", show_default=True,
              help="Start: YYYY-MM-DD, today, yesterday, month, or an age like 7d.")
@click.option("--until", help="End (exclusive for ages; a date counts its whole day).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def usage(since: str, until: str | None, as_json: bool) -> None:
    """Tokens and cost of stored replies, with a daily bar chart."""
    from ...planning.costs import format_usd as format_usd
    from ...planning.report import build_report, parse_when
    from ...settings import Settings as Settings
    from ...store import ConversationStore

    start = parse_when(since)
    stop = parse_when(until, end=True) if until else None
    settings = Settings.resolve()
    store = ConversationStore.open(settings.paths)
    try:
        report = build_report(store.usage_rows(since=start, until=stop), since=start,
                              until=stop, is_local=settings.is_local_model)
    finally:
        store.close()
    term = current_app().term
    if as_json:
        term.write_json(report.to_dict())
        return
    t = report.total
    if not t.requests:
        term.status("No usage recorded in that period.")
        return

    def money(totals: object) -> str:
        if getattr(totals, "all_free", False):
            return FREE
        cost = getattr(totals, "cost", 0.0)
        mark = "~" if getattr(totals, "estimated", False) else ""
        return mark + format_usd(cost) if cost else "-"

    peak = max(v.cost for v in report.by_day.values()) or 1.0
    peak_tokens = max(v.tokens for v in report.by_day.values()) or 1
    term.write_line("By day")
    for day, v in report.by_day.items():
        share = v.cost / peak if any(x.cost for x in report.by_day.values()) else (
            v.tokens / peak_tokens)
        bar = "█" * max(1, round(share * 40)) if (v.cost or v.tokens) else ""
        term.write_line(f"  {day}  {bar:<40}  {v.tokens:>10,} tokens  {money(v):>10}")
    term.write_line("")
    term.table(
        [{"model": k, "requests": v.requests, "prompt": f"{v.prompt_tokens:,}",
          "completion": f"{v.completion_tokens:,}", "cost": money(v)}
         for k, v in report.by_model.items()],
        ["model", "requests", "prompt", "completion", "cost"],
    )
    term.write_line("")
    top = list(report.by_conversation.items())[:10]
    term.table(
        [{"conversation": k, "requests": v.requests, "tokens": f"{v.tokens:,}",
          "cost": money(v)} for k, v in top],
        ["conversation", "requests", "tokens", "cost"],
    )
    term.write_line("")
    note = " (~ marks estimates)" if t.estimated else ""
    unpriced = f"; {t.unpriced} replies had no known price" if t.unpriced else ""
    free = f"; {t.free} replies {FREE}" if t.free and not t.all_free else ""
    term.write_line(f"Total: {t.requests} replies, {t.tokens:,} tokens, {money(t)}{note}"
                    f"{free}{unpriced}")
