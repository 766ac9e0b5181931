"""Demo pub/sub: the built-in event types, and the subscriptions the birth journey's agencies would hold —
social insurance (BHXH) learns of births in Hà Nội to open the child's health insurance card, and the
police's residence subsystem learns of deaths. Their webhooks point at this node's own test receiver
(`/api/exchange/v1/webhook-test`, which checks the signature), so deliveries succeed out of the box.
"""

from __future__ import annotations

from dgov.exchange import pubsub, webhook_urls
from dgov.exchange import pubsub_subscriptions as subscriptions
from dgov.identity import SYSTEM
from dgov.web.runtime import Runtime

SUBSCRIPTIONS = [
    ("GOV/BHXH", "CSDLBH", "person.born", {"province_code": "01"}),
    ("GOV/BCA", "CUTRU", "person.died", {}),
    ("GOV/BHXH", "CSDLBH", "person.died", {}),
]


async def load(rt: Runtime) -> None:
    """Idempotent: a subscription that exists (same member, subsystem and event) is left as it is."""
    async with rt.db.uow() as uow:
        await pubsub.ensure_event_types(uow)
        await uow.commit()
    have = {
        (s.member, s.subsystem, s.event_type) for s in await subscriptions.list_subscriptions(rt.db, SYSTEM)
    }
    url = f"{rt.settings.issuer}/api/exchange/v1/webhook-test"
    for member, subsystem, event_type, filters in SUBSCRIPTIONS:
        if (member, subsystem, event_type) in have:
            continue
        await subscriptions.add_subscription(
            rt.db,
            SYSTEM,
            member=member,
            subsystem=subsystem,
            event_type=event_type,
            url=url,
            filters=filters,
            url_policy=webhook_urls.UrlPolicy.from_settings(rt.settings),
        )
