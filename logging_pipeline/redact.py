"""Secret redaction: a processor that removes credentials from every event before any sink or renderer sees it.

Two rules, applied to every field (nested dicts and lists included, and the ``message`` and ``exc`` traceback
text):

* **by key name** — a field called ``api_key``, ``secret``, ``password``, ``private_key``, ``token``,
  ``authorization``, ``credentials`` (any case, any ``*_``-prefix such as ``binance_api_secret``) has its
  value replaced by ``[REDACTED]`` (a ``dsn`` keeps its text, with the password masked by the value rule);
* **by value shape** — inside any string: URL credentials (``postgresql://user:pw@host`` → ``user:***@``),
  ``Bearer <token>``, ``key=value`` / ``key: value`` pairs whose key is a secret name, 0x-prefixed 64-hex
  private keys, PEM private-key blocks, and every exact value registered with ``register`` (e.g. the secrets
  of the loaded config).

Strings are first tested against one combined pattern, so an event without anything secret-looking costs one
regex search per string field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
_SECRET_NAMES = r"api[_-]?key|api[_-]?secret|secret[_-]?key|secret|password|passwd|pwd|private[_-]?key|" \
    r"access[_-]?token|refresh[_-]?token|token|authorization|credentials?|passphrase"
_SECRET_KEY = re.compile(rf"(?i)^(?:[a-z0-9]+[_-])*(?:{_SECRET_NAMES})$")

_VALUE_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), REDACTED),
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s@]*:)([^@\s/]+)(@)"), r"\1***\3"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"), rf"\1{REDACTED}"),
    (
        re.compile(rf"(?i)\b((?:[a-z0-9]+[_-])*(?:{_SECRET_NAMES}))(\s*[=:]\s*)(['\"]?)[^\s,;'\"&]+\3"),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"\b0x[0-9a-fA-F]{64}\b"), REDACTED),
]
_ANY_SHAPE = re.compile(
    rf"(?i)PRIVATE KEY|://[^:/\s@]*:[^@\s/]+@|bearer\s|(?:{_SECRET_NAMES})\s*[=:]|0x[0-9a-f]{{64}}"
)


class Redactor:
    """structlog processor ``(logger, method, event_dict) -> event_dict`` that redacts secrets in place."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known: set[str] = set()
        self._known_re: re.Pattern[str] | None = None
        self.register(*secrets)

    def register(self, *secrets: str | None) -> None:
        """Redact these exact values wherever they appear (values shorter than 4 characters are ignored)."""
        self._known.update(s for s in secrets if s and len(s) >= 4)
        if self._known:
            alternatives = sorted(self._known, key=len, reverse=True)
            self._known_re = re.compile("|".join(re.escape(s) for s in alternatives))

    def scrub(self, text: str) -> str:
        """Return ``text`` with every secret-shaped or registered value replaced."""
        if self._known_re is not None and self._known_re.search(text):
            text = self._known_re.sub(REDACTED, text)
        if _ANY_SHAPE.search(text):
            for pattern, replacement in _VALUE_RULES:
                text = pattern.sub(replacement, text)
        return text

    def _value(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if _SECRET_KEY.match(key):
                return REDACTED
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._value(key, v) for v in value]
        if value is not None and not isinstance(value, (int, float)) and _SECRET_KEY.match(key):
            return REDACTED
        return value

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        for key, value in event_dict.items():
            if isinstance(value, (str, dict, list, tuple)) or _SECRET_KEY.match(key):
                event_dict[key] = self._value(key, value)
        return event_dict
