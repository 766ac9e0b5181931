"""Logs never carry a whole personal ID number: masking in `mask_ids` and in the access log's JSON lines."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from httpx import AsyncClient

from dgov.kernel.logging import JsonFormatter, MaskingTextFormatter, mask_ids


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("001234567890", "001******890"),  # CCCD: 12 digits
        ("123456789", "12*****89"),  # legacy CMND: 9 digits
        ("cccd=079123456789&x=1", "cccd=079******789&x=1"),
        ("/people/079123456789/records", "/people/079******789/records"),
        ("CCCD079123456789", "CCCD079******789"),
        ("ids 001234567890, 123456789.", "ids 001******890, 12*****89."),
        ("Số CCCD: 001234567890", "Số CCCD: 001******890"),
    ],
)
def test_mask_ids_masks_id_numbers(text: str, masked: str) -> None:
    assert mask_ids(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "0912345678",  # mobile phone: 10 digits
        "+84912345678",  # 11 digits
        "12345678",  # 8 digits
        "1234567890123",  # 13 digits
        "12345678901234567890",
        "1700000000.123",  # a Unix timestamp
        "2024-06-01T10:15:30.123+00:00",
        "dossier 000.00.12.H29-240601-0001",
        "abcdef123456789abcdef0123abcdef0",  # request id (hex) with a 9-digit run inside
        "a" * 30 + "001234567890" + "b" * 4,  # long hex-ish token
        "12345678-1234-1234-1234-123456789012",  # UUID whose last group is all digits
        "e3b0c44298fc1c149afbf4c8996fb924" + "27ae41e4649b934ca495991b78520d5f",  # a sha256
    ],
)
def test_mask_ids_leaves_other_numbers_alone(text: str) -> None:
    assert mask_ids(text) == text


def test_mask_ids_keeps_every_uuid_intact() -> None:
    # Deterministic sample: these forms appear as request ids and outbox message ids in every log line.
    for i in range(2000):
        u = uuid.UUID(int=(i * 0x9E3779B97F4A7C15_F39CC0605CEDC834) % (1 << 128))
        assert mask_ids(u.hex) == u.hex
        assert mask_ids(str(u)) == str(u)


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "dgov.test", "levelno": logging.INFO, "levelname": "INFO", "msg": msg}
    )
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_json_formatter_masks_message_extras_and_tracebacks() -> None:
    record = _record("lookup %s", path="/people/001234567890")
    record.args = ("123456789",)
    try:
        raise ValueError("bad id 079123456789")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["msg"] == "lookup 12*****89"
    assert entry["path"] == "/people/001******890"
    assert "079******789" in entry["exc"]
    for raw in ("123456789", "001234567890", "079123456789"):
        assert raw not in line
    assert entry["level"] == "info" and entry["logger"] == "dgov.test"


def test_text_formatter_masks() -> None:
    line = MaskingTextFormatter("%(message)s").format(_record("citizen 001234567890 logged in"))
    assert line == "citizen 001******890 logged in"


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """The access logger's lines as the production JSON handler writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("dgov.http")
    caplog.set_level(logging.INFO, logger="dgov.http")
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


async def test_access_log_is_json_with_masked_ids(client: AsyncClient, access_log: io.StringIO) -> None:
    request_id = "abcdef123456789abcdef0123abcdef0"
    r = await client.get("/people/079123456789/records", headers={"X-Request-Id": request_id})
    assert r.status_code == 404
    lines = [json.loads(line) for line in access_log.getvalue().splitlines()]
    assert len(lines) == 1, lines
    entry = lines[0]
    assert entry["logger"] == "dgov.http"
    assert entry["msg"] == "request"
    assert entry["method"] == "GET"
    assert entry["status"] == 404
    assert entry["path"] == "/people/079******789/records"
    assert entry["request_id"] == request_id == r.headers["x-request-id"]
    assert isinstance(entry["ms"], float | int)
    assert "079123456789" not in access_log.getvalue()


async def test_access_log_records_the_real_status_of_a_crash(
    lenient_client: AsyncClient, access_log: io.StringIO
) -> None:
    r = await lenient_client.get("/api/_probe/boom")
    assert r.status_code == 500
    entry = json.loads(access_log.getvalue().splitlines()[-1])
    assert entry["status"] == 500
    assert entry["path"] == "/api/_probe/boom"


WORKER = """
import logging, logging.config, sys
from dgov.kernel.logging import configure_logging, uvicorn_log_config
if sys.argv[1] == "uvicorn":
    logging.config.dictConfig(uvicorn_log_config("INFO", json_lines=True))
else:
    configure_logging("INFO", json_lines=True)
logging.getLogger("uvicorn.error").info("started for %s", "001234567890")
logging.getLogger("uvicorn.access").info("GET /people/001234567890 200")
logging.getLogger("dgov.http").info("request", extra={"path": "/people/079123456789"})
"""


@pytest.mark.parametrize("how", ["uvicorn", "configure_logging"])
def test_process_logging_setup_masks_every_line(how: str) -> None:
    """The two ways a process sets up logging, in a process of its own (they replace global handlers)."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER, how], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["logger"], e["msg"]) for e in lines] == [
        ("uvicorn.error", "started for 001******890"),
        ("dgov.http", "request"),  # uvicorn's own access line is dropped in favour of ours
    ]
    assert lines[1]["path"] == "/people/079******789"
    assert "001234567890" not in done.stderr and "079123456789" not in done.stderr
