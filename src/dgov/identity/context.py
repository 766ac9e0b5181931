"""What identity's use cases need from the running node, passed explicitly (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from dgov.kernel.crypto import SecretBox
from dgov.kernel.uow import Database


@dataclass(frozen=True)
class PersonOnFile:
    """What the population registry holds to reach a person: the only places an activation code goes."""

    phone: str | None = None
    email: str | None = None


class PersonVerifier(Protocol):
    """Checks a new citizen account against the population registry (wired by the registries domain)."""

    async def verify(self, *, id_number: str, full_name: str, birth_date: object, sex: str) -> bool: ...

    async def on_file(
        self, *, id_number: str, full_name: str, birth_date: object, sex: str
    ) -> PersonOnFile | None:
        """The person's contacts on file when the details match a living person's record, else None."""
        ...


@dataclass
class AcceptAll:
    """A node without the population registry (and identity's own tests): everyone matches, and the
    contacts on file are the ones given here (none by default: activation in person only)."""

    phone: str | None = None
    email: str | None = None

    async def verify(self, **_person: object) -> bool:
        return True

    async def on_file(self, **_person: object) -> PersonOnFile | None:
        return PersonOnFile(phone=self.phone, email=self.email)


@dataclass
class Policy:
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)
    pending_login: timedelta = timedelta(minutes=5)
    code_ttl: timedelta = timedelta(minutes=15)
    # Account throttling: from the 5th failure on, growing waits; from the 9th, a 15-minute lock.
    free_failures: int = 4
    lock_after: int = 9
    lock_for: timedelta = timedelta(minutes=15)
    # Address throttling across accounts (see `login`): past ip_max_failures failures in the window an
    # address's wrong passwords are answered "too many attempts", but a right one still logs in, so that
    # strangers failing behind the same NAT or office proxy cannot lock a person out; only past the
    # generous ip_block_failures is the address refused outright (bounding password spraying).
    ip_window: timedelta = timedelta(minutes=15)
    ip_max_failures: int = 30
    ip_block_failures: int = 300


@dataclass
class IdentityContext:
    db: Database
    secret: str
    issuer: str = "http://127.0.0.1:8000"
    policy: Policy = field(default_factory=Policy)
    verifier: PersonVerifier = field(default_factory=AcceptAll)

    def box(self, purpose: str) -> SecretBox:
        return SecretBox(self.secret, purpose)


VerifierFactory = Callable[[Database], PersonVerifier]
_verifier_factory: VerifierFactory | None = None


def set_verifier_factory(factory: VerifierFactory | None) -> None:
    """The population registry plugs its check in here (identity cannot import registries: they build
    on identity). Only contexts made by `node_context` — the running node's — use it."""
    global _verifier_factory
    _verifier_factory = factory


def node_context(db: Database, *, secret: str, issuer: str) -> IdentityContext:
    """The identity context of a running node: with the registered person verifier, if any."""
    verifier = _verifier_factory(db) if _verifier_factory is not None else AcceptAll()
    return IdentityContext(db=db, secret=secret, issuer=issuer, verifier=verifier)
