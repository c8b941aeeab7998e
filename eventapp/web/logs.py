"""Keep secrets out of logs: screen keys and personal-code tokens travel in URL paths
(``/e/{code}/organizer/{key}``, ``/e/{code}/n/{token}``), and access logs record paths.

A filter on uvicorn's access logger (and its error logger, which quotes paths too) masks
them before any handler formats the line. Installed once per process by the entry points.
"""

from __future__ import annotations

import logging
import re

MASK = "***"
_SECRET_PATHS = re.compile(r"(/(?:moderator|projector|organizer|n)/)[^/?#\s\"]+")
_SECRET_QUERY = re.compile(r"([?&](?:key|token|code_token)=)[^&#\s\"]+", re.IGNORECASE)
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1" + MASK, _SECRET_PATHS.sub(r"\1" + MASK, text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
