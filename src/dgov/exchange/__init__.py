"""Information mediator: directory, signed gateway, message log, pub/sub (X-Road / GovStack IM)."""
