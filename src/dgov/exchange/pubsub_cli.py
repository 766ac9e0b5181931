"""`dgov exchange …` pub/sub commands (a public contract: keep stable).

Contract for automation: `subscribe` prints the new subscription's id alone on its last line;
`subscriptions --json`, `deliveries --json` and `event-types --json` print JSON arrays; `replay` prints
how many events it queued. The command line acts as the system (an operator at the machine); every
change is audited. Deliveries themselves are made by the outbox dispatcher (`dgov serve` or
`dgov outbox run`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dgov.clisupport import console, err, print_json, run_with_runtime
from dgov.exchange import pubsub, pubsub_inbox, pubsub_subscriptions, webhook_urls
from dgov.identity import SYSTEM, audit_by
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.web.runtime import Runtime

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _filters(given: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    bad = []
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            bad.append(FieldError(("filter",), "Write each filter as key=value: {item}", {"item": item}))
        else:
            out[key.strip()] = value.strip()
    if bad:
        raise ValidationFailed(errors=bad)
    return out


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed(
            errors=[FieldError((field,), "Not an identifier: {value}", {"value": value})]
        ) from None


def subscribe(
    member: Annotated[str, typer.Option("--member", help="The subscribing member, CLASS/CODE (GOV/BHXH)")],
    subsystem: Annotated[str, typer.Option("--subsystem", help="Its subsystem's code")],
    event: Annotated[str, typer.Option("--event", help="Event type, e.g. person.born")],
    url: Annotated[str, typer.Option("--url", help="Webhook URL the events are POSTed to")],
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", help="key=value on the event's data (repeatable)")
    ] = None,
    max_attempts: Annotated[
        int, typer.Option(help="Attempts before a dead letter")
    ] = pubsub.DEFAULT_MAX_ATTEMPTS,
) -> None:
    """Subscribe a member's subsystem to an event type; prints the subscription id on the last line."""

    async def go(rt: Runtime) -> pubsub_subscriptions.SubscriptionView:
        return await pubsub_subscriptions.add_subscription(
            rt.db,
            SYSTEM,
            member=member,
            subsystem=subsystem,
            event_type=event,
            url=url,
            filters=_filters(filter_ or []),
            max_attempts=max_attempts,
            url_policy=webhook_urls.UrlPolicy.from_settings(rt.settings),
        )

    sub = run_with_runtime(go)
    where = ", ".join(f"{k}={v}" for k, v in sub.filters.items()) or "-"
    console.print(
        f"{escape(sub.member)}/{escape(sub.subsystem)} ← {sub.event_type} ({escape(where)}) → {escape(url)}"
    )
    print(sub.id)


def subscriptions(
    member: Annotated[str | None, typer.Option("--member", help="Only this member's (CLASS/CODE)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List subscriptions with their delivery counts."""

    async def go(rt: Runtime) -> list[pubsub_subscriptions.SubscriptionView]:
        return await pubsub_subscriptions.list_subscriptions(rt.db, SYSTEM, member=member)

    subs = run_with_runtime(go)
    if as_json:
        print_json([s.as_json() for s in subs])
        return
    table = Table("id", "member/subsystem", "event", "filters", "url", "status", "ok", "pending", "dead")
    for s in subs:
        table.add_row(
            str(s.id),
            f"{s.member}/{s.subsystem}",
            s.event_type,
            escape(", ".join(f"{k}={v}" for k, v in s.filters.items())),
            escape(s.url),
            s.status,
            str(s.delivered),
            str(s.pending),
            str(s.dead),
        )
    console.print(table)


def unsubscribe(subscription: Annotated[str, typer.Argument(help="Subscription id")]) -> None:
    """Disable a subscription (its history stays)."""

    async def go(rt: Runtime) -> None:
        await pubsub_subscriptions.disable_subscription(rt.db, SYSTEM, _uuid(subscription, "subscription"))

    run_with_runtime(go)
    console.print("disabled")


def replay(
    subscription: Annotated[str, typer.Option("--subscription", help="Subscription id")],
    from_offset: Annotated[int, typer.Option("--from-offset", help="First stream offset to deliver again")],
) -> None:
    """Deliver again every matching event from an offset of this node's stream on."""

    async def go(rt: Runtime) -> int:
        return await pubsub_subscriptions.replay(
            rt.db,
            SYSTEM,
            _uuid(subscription, "subscription"),
            from_offset=from_offset,
            node=rt.settings.node_name,
        )

    n = run_with_runtime(go)
    console.print(f"queued {n}")


def deliveries(
    subscription: Annotated[str | None, typer.Option("--subscription", help="Subscription id")] = None,
    status: Annotated[str | None, typer.Option(help="pending, delivered or dead")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Deliveries, newest first (`--status dead` lists the dead letters)."""

    async def go(rt: Runtime) -> list[pubsub_subscriptions.DeliveryView]:
        sub_id = _uuid(subscription, "subscription") if subscription else None
        return await pubsub_subscriptions.list_deliveries(
            rt.db, SYSTEM, subscription_id=sub_id, status=status, limit=limit
        )

    rows = run_with_runtime(go)
    if as_json:
        print_json([d.as_json() for d in rows])
        return
    table = Table("id", "offset", "event", "status", "attempts", "last status", "last error")
    for d in rows:
        table.add_row(
            str(d.id),
            str(d.event_offset),
            d.event_type,
            d.status,
            str(d.attempts),
            str(d.last_status or ""),
            escape((d.last_error or "")[:60]),
        )
    console.print(table)


def attempts(delivery: Annotated[str, typer.Argument(help="Delivery id")], as_json: JsonOpt = False) -> None:
    """The delivery log of one delivery: every attempt with its status code, duration and error."""

    async def go(rt: Runtime) -> list[pubsub_subscriptions.AttemptView]:
        return await pubsub_subscriptions.delivery_attempts(rt.db, SYSTEM, _uuid(delivery, "delivery"))

    rows = run_with_runtime(go)
    if as_json:
        print_json([a.as_json() for a in rows])
        return
    table = Table("attempt", "at", "ms", "status", "outcome", "error")
    for a in rows:
        table.add_row(
            str(a.attempt),
            a.started_at.isoformat(timespec="seconds"),
            str(a.duration_ms),
            str(a.status_code or ""),
            a.outcome,
            escape((a.error or "")[:80]),
        )
    console.print(table)


def redeliver(delivery: Annotated[str, typer.Argument(help="Delivery id (e.g. a dead letter)")]) -> None:
    """Send a delivery again with a fresh round of attempts."""

    async def go(rt: Runtime) -> None:
        await pubsub_subscriptions.redeliver(
            rt.db, SYSTEM, _uuid(delivery, "delivery"), node=rt.settings.node_name
        )

    run_with_runtime(go)
    console.print("queued")


def event_types(as_json: JsonOpt = False) -> None:
    """The event types this node knows (name, owner, description, payload schema)."""

    async def go(rt: Runtime) -> list[pubsub.EventTypeView]:
        return await pubsub.list_event_types(rt.db)

    rows = run_with_runtime(go)
    if as_json:
        print_json(
            [
                {
                    "name": t.name,
                    "owner": t.owner,
                    "description": t.description,
                    "schema": t.schema,
                    "status": t.status,
                }
                for t in rows
            ]
        )
        return
    table = Table("name", "owner", "description")
    for t in rows:
        table.add_row(t.name, t.owner, escape(t.description.get("vi", "")))
    console.print(table)


def publish_event(
    event: Annotated[str, typer.Option("--event", help="Event type, e.g. person.born")],
    data: Annotated[str, typer.Option("--data", help="The event's data as a JSON object")],
    subject: Annotated[str | None, typer.Option(help="The data subject's ID number")] = None,
) -> None:
    """Publish an event by hand (operators testing a subscriber); prints its offset and id."""
    try:
        payload: Any = json.loads(data)
    except json.JSONDecodeError as exc:
        err.print(f"[red]--data is not JSON[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    if not isinstance(payload, dict):
        err.print("[red]--data must be a JSON object[/]")
        raise typer.Exit(2)

    async def go(rt: Runtime) -> pubsub.PublishedEvent:
        async with rt.db.uow() as uow:
            ev = await pubsub.publish_event(
                uow,
                event,
                payload,
                subject_id=subject,
                instance=rt.settings.exchange_instance,
                node=rt.settings.node_name,
            )
            uow.audit(
                audit_by(
                    SYSTEM,
                    action="exchange.event.publish",
                    object_type="exchange_event",
                    object_id=str(ev.id),
                    details={"type": event, "offset": ev.offset},
                )
            )
            await uow.commit()
        return ev

    ev = run_with_runtime(go)
    console.print(f"offset {ev.offset}")
    print(ev.id)


def trust_node(
    name: Annotated[str, typer.Option("--name", help="A name for the peer node")],
    public_key: Annotated[Path, typer.Option("--public-key", help="Its `dgov exchange node-key` PEM file")],
) -> None:
    """Accept signed event deliveries from another node into this node's inbox; prints the key id."""
    try:
        pem = public_key.read_text(encoding="ascii")
    except (OSError, UnicodeError) as exc:
        err.print(f"[red]cannot read {escape(str(public_key))}[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None

    async def go(rt: Runtime) -> str:
        return await pubsub_inbox.trust_node(rt.db, SYSTEM, name=name, public_pem=pem)

    print(run_with_runtime(go))


def inbox(
    limit: Annotated[int, typer.Option(help="At most this many, newest first")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Events other nodes delivered to this node (federation)."""

    async def go(rt: Runtime) -> list[dict[str, Any]]:
        return await pubsub_inbox.inbox(rt.db, SYSTEM, limit=limit)

    rows = run_with_runtime(go)
    if as_json:
        print_json(rows)
        return
    table = Table("received", "type", "source", "offset", "event id")
    for r in rows:
        table.add_row(r["received_at"][:19], r["type"], r["source"], str(r["offset"]), r["event_id"])
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the pub/sub commands to `dgov exchange`."""
    app.command("subscribe")(subscribe)
    app.command("subscriptions")(subscriptions)
    app.command("unsubscribe")(unsubscribe)
    app.command("replay")(replay)
    app.command("deliveries")(deliveries)
    app.command("delivery-log")(attempts)
    app.command("redeliver")(redeliver)
    app.command("event-types")(event_types)
    app.command("publish-event")(publish_event)
    app.command("trust-node")(trust_node)
    app.command("inbox")(inbox)
