"""Information mediator: directory, signed gateway, message log, pub/sub (X-Road / GovStack IM).

Other domains import only from here. To read another agency's data as one of this node's subsystems
(e.g. the one-stop centre prefilling a form), call `call_service`: it goes through the same gateway,
checks, message log and access log as a remote call.
"""

from dgov.exchange.addresses import MemberId, ServiceId, SubsystemId
from dgov.exchange.client import (
    ExchangeClient,
    ExchangeResponse,
    ResponseNotTrusted,
    call_service,
    register_node_subsystem,
)
from dgov.exchange.demo import ONE_STOP
from dgov.exchange.directory_rows import generation as _directory_generation
from dgov.exchange.registry_services import agency_rights as _agency_rights
from dgov.exchange.registry_services import service_address as registry_service_address
from dgov.registries import RightsSource as _RightsSource
from dgov.registries import set_rights_source as _set_rights_source

__all__ = [
    "ONE_STOP",
    "ExchangeClient",
    "ExchangeResponse",
    "MemberId",
    "ResponseNotTrusted",
    "ServiceId",
    "SubsystemId",
    "call_service",
    "register_node_subsystem",
    "registry_service_address",
]

# Pub/sub: other domains publish life events in their own unit of work.
from dgov.exchange.pubsub import PublishedEvent, publish_event

__all__ += ["PublishedEvent", "publish_event"]

# Officials of an agency read the registries the agency holds an access right to (registries.rules).
_set_rights_source(_RightsSource(load=_agency_rights, generation=_directory_generation))
