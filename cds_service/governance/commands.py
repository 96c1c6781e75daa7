"""`cds-service rules` and `cds-service ledger`: switch rules with a reason, read the ledger.

They use the service's configuration (CDS_DATABASE_URL, CDS_KNOWLEDGE_DIR, ...), like
`cds-service db upgrade`. Exit codes: 0 success; 2 usage error (unknown rule, missing or empty
--reason or --by); 3 invalid configuration, or a state the knowledge does not allow.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from pydantic import BaseModel

EXIT_INVALID = 3
STATES = ("on", "shadow", "off")


@dataclass(frozen=True)
class _Context:
    """What the commands need from the configured service."""

    store: Any  # cds_service.store.Store (imported lazily: the CLI starts fast)
    knowledge: Any  # hooks.knowledge.KnowledgeBase
    service_ids: tuple[str, ...]
    ttl: float


def _context() -> _Context:
    from cds_service.app import create_app
    from cds_service.settings import ConfigError

    try:
        app = create_app()
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    pipeline = app.extensions["cds"].pipeline
    return _Context(
        store=pipeline.store,
        knowledge=pipeline.registry.knowledge,
        service_ids=tuple(spec.id for spec in pipeline.registry),
        ttl=pipeline.settings.RULE_STATES_TTL_SECONDS,
    )


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=_plain).decode())


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else str(value)


@click.group()
def rules() -> None:
    """Rule states (on, shadow, off): list them, set them with a reason, read the audit trail."""


class SetState(BaseModel):
    """A state set here, with who set it, when and why."""

    state: str
    at: datetime
    by: str
    reason: str


class RuleListing(BaseModel):
    """One rule in `rules list --json`."""

    id: str
    version: str
    title: str
    shipped: str
    set: SetState | None
    effective: str
    locked: bool  # cites an unverified source: stays off whatever is set


class ServiceListing(BaseModel):
    """One hosted service in `rules list --json`."""

    service: str
    service_wide: str
    service_wide_set: SetState | None
    digest: str
    rules: list[RuleListing]


@rules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--ids", is_flag=True, help="Print only the ids of the rules that may run.")
def list_rules(as_json: bool, ids: bool) -> None:
    """Every rule with the state it ships in, the state set here, and its effective state.

    `--ids` lists, one per line, every rule that may be on or in shadow (not those citing an
    unverified source), e.g. to put them all in shadow: `rules set $(rules list --ids) shadow`.
    """
    from cds_service.governance.states import effective_states
    from cds_service.governance.switches import SERVICE_WIDE, read_states

    ctx = _context()
    stored = read_states(ctx.store)
    services = []
    for service_id in ctx.service_ids:
        mine = stored.get(service_id, {})
        states = effective_states(ctx.knowledge, service_id, mine)
        services.append(
            ServiceListing(
                service=service_id,
                service_wide=states.mode.value,
                service_wide_set=_setting(mine.get(SERVICE_WIDE)),
                digest=states.digest,
                rules=[
                    RuleListing(
                        id=rule.id,
                        version=rule.version,
                        title=rule.title,
                        shipped=rule.state.value,
                        set=_setting(mine.get(rule.id)),
                        effective=states.rules[rule.id].value,
                        locked=bool(ctx.knowledge.unverified_sources(rule)),
                    )
                    for rule in ctx.knowledge.catalogue(service_id)
                ],
            )
        )
    if ids:
        click.echo("\n".join(r.id for svc in services for r in svc.rules if not r.locked))
        return
    if as_json:
        listing = {"knowledge_version": ctx.knowledge.version, "services": services}
        _echo_json(listing)
        return
    for service in services:
        click.echo(
            f"{service.service}: knowledge {ctx.knowledge.version}, service-wide "
            f"{service.service_wide}, rule-state digest {service.digest}"
        )
        click.echo(f"{'RULE':<6} {'SHIPPED':<8} {'SET':<8} {'EFFECTIVE':<10} TITLE")
        for rule in service.rules:
            chosen = rule.set.state if rule.set else "-"
            title = rule.title + (" (unverified source: stays off)" if rule.locked else "")
            click.echo(f"{rule.id:<6} {rule.shipped:<8} {chosen:<8} {rule.effective:<10} {title}")


def _setting(setting: Any) -> SetState | None:
    if setting is None:
        return None
    return SetState(
        state=setting.state.value,
        at=setting.changed_at,
        by=setting.changed_by,
        reason=setting.reason,
    )


def _required_text(value: str, option: str) -> str:
    text = value.strip()
    if not text:
        raise click.BadParameter("must not be empty", param_hint=option)
    return text


@rules.command("set")
@click.argument("args", nargs=-1, metavar="RULE_ID... STATE | --all STATE")
@click.option("--all", "service_wide", is_flag=True, help="The service-wide switch: on or shadow.")
@click.option("--reason", required=True, help="Why (kept in the audit trail). Required.")
@click.option("--by", "by", required=True, help="Who decides (kept in the audit trail). Required.")
@click.option("--service", "service_id", help="With --all: the service (default: the only one).")
def set_rule(
    args: Sequence[str], service_wide: bool, reason: str, by: str, service_id: str | None
) -> None:
    """Switch rules on, to shadow or off (or, with --all, the whole service on or to shadow).

    Each change is audited with its reason; every worker applies it within
    CDS_RULE_STATES_TTL_SECONDS. Every rule named is checked before any is changed.
    """
    from cds_service.governance.switches import SERVICE_WIDE
    from hooks.knowledge.schema import RuleState

    reason, by = _required_text(reason, "--reason"), _required_text(by, "--by")
    targets, state = _targets(args, service_wide)
    ctx = _context()
    if service_wide:
        if state is RuleState.OFF:
            raise click.BadParameter(
                "the service-wide switch is on or shadow; switch rules off one by one",
                param_hint="STATE",
            )
        changes = [(_service(ctx, service_id), SERVICE_WIDE)]
    else:
        changes = [(_rule_service(ctx, rule_id), rule_id) for rule_id in targets]
        for _, rule_id in changes:
            unverified = ctx.knowledge.unverified_sources(ctx.knowledge.rule(rule_id))
            if state is not RuleState.OFF and unverified:
                click.echo(
                    f"error: {rule_id} cites unverified source(s) {', '.join(unverified)}: it "
                    "stays off until the knowledge cites a verified source; nothing changed",
                    err=True,
                )
                sys.exit(EXIT_INVALID)
    for service, target in changes:
        click.echo(_change(ctx, service, target, state, by, reason))


def _change(ctx: _Context, service_id: str, target: str, state: Any, by: str, reason: str) -> str:
    """Set and audit one state; what happened, in one line."""
    from cds_service.governance.states import effective_states
    from cds_service.governance.switches import SERVICE_WIDE, Setting, read_states, write_state

    stored = dict(read_states(ctx.store).get(service_id, {}))
    before = effective_states(ctx.knowledge, service_id, stored)
    old = stored[target].state if target in stored else _shipped(ctx, target)
    what = "service-wide switch" if target == SERVICE_WIDE else target
    if old is state:
        return f"{service_id} {what} is already {state.value}: nothing changed, nothing recorded"
    stored[target] = Setting(state, datetime.now(UTC), by, reason)
    after = effective_states(ctx.knowledge, service_id, stored)
    write_state(
        ctx.store, service_id, target, state, old, by, reason, after.digest, after.snapshot()
    )
    effective = after.mode if target == SERVICE_WIDE else after.rules[target]
    return (
        f"{service_id} {what}: {old.value} -> {state.value} (effective {effective.value}); "
        f"rule-state digest {before.digest} -> {after.digest}; every worker applies it within "
        f"{ctx.ttl:g} s"
    )


def _targets(args: Sequence[str], service_wide: bool) -> tuple[list[str], Any]:
    from hooks.knowledge.schema import RuleState

    if (len(args) != 1) if service_wide else (len(args) < 2):
        usage = "--all STATE" if service_wide else "RULE_ID... STATE"
        raise click.UsageError(f"expected {usage}, with STATE one of {', '.join(STATES)}")
    if args[-1] not in STATES:
        raise click.BadParameter(
            f"{args[-1]!r} is not one of {', '.join(STATES)}", param_hint="STATE"
        )
    return list(dict.fromkeys(args[:-1])), RuleState(args[-1])


def _service(ctx: _Context, service_id: str | None) -> str:
    if service_id is None and len(ctx.service_ids) == 1:
        return ctx.service_ids[0]
    if service_id not in ctx.service_ids:
        raise click.BadParameter(
            f"name one of the hosted services: {', '.join(ctx.service_ids)}",
            param_hint="--service",
        )
    return service_id


def _rule_service(ctx: _Context, rule_id: str) -> str:
    for service_id in ctx.service_ids:
        if any(rule.id == rule_id for rule in ctx.knowledge.catalogue(service_id)):
            return service_id
    raise click.BadParameter(f"no rule {rule_id!r} in a hosted service", param_hint="RULE_ID")


def _shipped(ctx: _Context, target: str) -> Any:
    """The state before any switch: the knowledge's, or on for the service-wide switch."""
    from cds_service.governance.switches import SERVICE_WIDE
    from hooks.knowledge.schema import RuleState

    return RuleState.ON if target == SERVICE_WIDE else ctx.knowledge.rule(target).state


@rules.command("history")
@click.option("--rule", "rule_id", help="Only this rule (`*` for the service-wide switch).")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
def history(rule_id: str | None, limit: int, as_json: bool) -> None:
    """The audit trail of rule-state changes, oldest first."""
    from cds_service.governance.switches import read_history

    changes = read_history(_context().store, rule_id=rule_id, limit=limit)
    if as_json:
        _echo_json(
            [
                {
                    "at": c.changed_at.isoformat(),
                    "service": c.service_id,
                    "rule": c.rule_id,
                    "from": c.old_state,
                    "to": c.new_state,
                    "by": c.changed_by,
                    "reason": c.reason,
                    "digest": c.digest,
                }
                for c in changes
            ]
        )
        return
    for c in changes:
        click.echo(
            f"{c.changed_at.isoformat(timespec='seconds')}  {c.service_id} {c.rule_id}: "
            f"{c.old_state} -> {c.new_state}  by {c.changed_by}  digest {c.digest}  "
            f"reason: {c.reason}"
        )


@rules.command("digest")
@click.argument("digest")
def show_digest(digest: str) -> None:
    """The effective rule states a digest (from a card or the ledger) stands for, as JSON."""
    from cds_service.governance.switches import read_snapshot

    snapshot = read_snapshot(_context().store, digest)
    if snapshot is None:
        click.echo(f"error: this database has never seen rule-state digest {digest!r}", err=True)
        sys.exit(EXIT_INVALID)
    _echo_json(
        {
            "digest": snapshot.digest,
            "service": snapshot.service_id,
            "firstSeen": snapshot.first_seen.isoformat(),
            "states": snapshot.states,
        }
    )


@click.group()
def ledger() -> None:
    """The card ledger, readable without SQL."""


@ledger.command("export")
@click.option("--since", help="From this day (YYYY-MM-DD, UTC) or ISO instant, inclusive.")
@click.option("--until", help="Up to this day or instant, exclusive.")
@click.option(
    "--format", "fmt", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write here instead of standard output.",
)
def export(since: str | None, until: str | None, fmt: str, output: Path | None) -> None:
    """One record per finding shown, shadowed or snoozed, with the feedback joined to it.

    Patients appear only as their salted hash; feedback comments are never exported.
    """
    from cds_service.governance.export import read_records, write_csv, write_ndjson

    start = _moment(since, "--since") if since else None
    end = _moment(until, "--until") if until else None
    records = read_records(_context().store, start, end)
    write = write_csv if fmt == "csv" else write_ndjson
    if output is None:
        count = write(records, _stdout())
    else:
        with output.open("w", encoding="utf-8", newline="") as handle:
            count = write(records, handle)
    click.echo(f"{count} records", err=True)


@ledger.command("schema")
def schema() -> None:
    """The JSON Schema of one exported record (the contract for readers of the export)."""
    from cds_service.governance.export import LedgerRecord

    _echo_json(LedgerRecord.model_json_schema())


def _stdout() -> IO[str]:
    return sys.stdout


def _moment(text: str, option: str) -> datetime:
    from cds_service.cli import _parse_as_of

    return _parse_as_of(text, option)
