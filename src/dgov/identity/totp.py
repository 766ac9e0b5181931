"""TOTP second factor (RFC 6238): 6 digits, 30-second steps, one step of clock drift, each code once."""

from __future__ import annotations

import io
from datetime import datetime

import pyotp
import segno

ISSUER = "dgov"
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account_name: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """An SVG QR code for the authenticator app, inlined in the page (no external request)."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=5, border=2, xmldecl=False, svgns=True)
    return buf.getvalue().decode("utf-8")


def matching_step(secret: str, code: str, *, at: datetime, after_step: int | None) -> int | None:
    """The time step whose code equals `code`, if it is within the drift window and newer than the last
    accepted step (so a code seen once, e.g. over a shoulder, cannot be replayed)."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at.timestamp()) // totp.interval
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None
