"""Where a webhook may point: https, to a public address (no server-side request forgery).

A subscription's URL is checked when it is registered and again before every delivery, since the name
may resolve elsewhere by then: the scheme must be https (http only with
`DGOV_EXCHANGE_WEBHOOK_ALLOW_HTTP`, for local work and tests), and every address the host resolves to
must be public — not loopback, private, link-local, multicast, reserved or unspecified — unless
`DGOV_EXCHANGE_WEBHOOK_ALLOW` names the host, the address or a network holding it. A delivery then
connects to the address that was checked, not to a second lookup of the name.

This node's own test receiver (`/api/exchange/v1/webhook-test` under its public URL) is always allowed:
it checks the signature and keeps nothing, and the demo's subscriptions point at it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from dgov.kernel.config import Settings, get_settings


def N_(message: str) -> str:
    """Marks a msgid for extraction: the refusal becomes a translated field error."""
    return message


TEST_RECEIVER_PATH = "/api/exchange/v1/webhook-test"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookUrlRefused(ValueError):
    """The URL may not be called; `reason` is a stable code, the message a msgid for the field error."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class UrlPolicy:
    allow_http: bool = False
    allow: tuple[str, ...] = ()  # host names, addresses or networks (CIDR) that may be internal
    own_receiver: str = ""  # this node's test receiver URL

    @classmethod
    def from_settings(cls, s: Settings) -> UrlPolicy:
        return cls(
            allow_http=s.exchange_webhook_allow_http,
            allow=tuple(x.strip().lower() for x in s.exchange_webhook_allow.split(",") if x.strip()),
            own_receiver=s.issuer + TEST_RECEIVER_PATH,
        )

    def _networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out = []
        for item in self.allow:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                continue  # a host name
        return out

    def names(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allow

    def allows_address(self, ip: Address) -> bool:
        return any(ip.version == n.version and ip in n for n in self._networks())


_policy: UrlPolicy | None = None


def configure(policy: UrlPolicy | None) -> None:
    """Set the policy deliveries use in this process (tests); otherwise it comes from the settings."""
    global _policy
    _policy = policy


def policy() -> UrlPolicy:
    global _policy
    if _policy is None:
        _policy = UrlPolicy.from_settings(get_settings())
    return _policy


def internal(ip: Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused("unresolvable", N_("The webhook's host name cannot be resolved")) from exc
    seen: list[Address] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in seen:
            seen.append(ip)
    return seen


@dataclass(frozen=True)
class Checked:
    """A URL allowed by the policy, and the address to connect to (None: connect by name)."""

    url: str
    host: str
    address: Address | None


async def check(url: str, rules: UrlPolicy | None = None) -> Checked:
    """Raise WebhookUrlRefused unless `url` may be called now."""
    rules = rules or policy()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused("malformed", N_("Give an https:// address")) from exc
    host = parts.hostname or ""
    if rules.own_receiver and url == rules.own_receiver:
        return Checked(url, host, None)
    if parts.scheme == "http" and not rules.allow_http:
        raise WebhookUrlRefused("http", N_("Give an https:// address"))
    if parts.scheme not in ("https", "http") or not host:
        raise WebhookUrlRefused("malformed", N_("Give an https:// address"))
    if rules.names(host):
        return Checked(url, host, None)
    addresses = await _resolve(host, port or (443 if parts.scheme == "https" else 80))
    if not addresses:
        raise WebhookUrlRefused("unresolvable", N_("The webhook's host name cannot be resolved"))
    for ip in addresses:
        if internal(ip) and not rules.allows_address(ip):
            raise WebhookUrlRefused(
                "internal-address", N_("The webhook may not point at an internal or reserved address")
            )
    return Checked(url, host, addresses[0])


def pinned(checked: Checked) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL to connect to, extra headers, request extensions): the checked address in place of the
    name, the name kept for the Host header and for TLS (SNI and the certificate check)."""
    if checked.address is None:
        return checked.url, {}, {}
    parts = urlsplit(checked.url)
    literal = f"[{checked.address}]" if checked.address.version == 6 else str(checked.address)
    netloc = literal + (f":{parts.port}" if parts.port else "")
    target = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": checked.host} if parts.scheme == "https" else {}
    return target, {"host": host_header}, extensions
