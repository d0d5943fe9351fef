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

Each key and string is first tested with a few substring searches (see ``_HINTS``; texts seen before are
looked up in a bounded cache), so an event without anything secret-looking costs about a microsecond; only a
hit applies the rules above.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import msgspec
from pydantic import BaseModel

REDACTED = "[REDACTED]"
_SECRET_NAMES = (
    r"api[_-]?key|api[_-]?secret|secret[_-]?key|secret|password|passwd|pwd|private[_-]?key|"
    r"access[_-]?token|refresh[_-]?token|token|authorization|credentials?|passphrase"
)
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


#: Lower-case substrings at least one of which occurs in any key or text the rules above can match: the fast
#: path tests these with ``in`` (a C substring search) on all keys and strings of an event joined together.
_HINTS = ("key", "secret", "pass", "pwd", "token", "auth", "credential", "bearer", "://", "0x")
_CACHED_LEN = 64  # texts up to this length are remembered as clean (venues, symbols, names, short messages)
_CACHE_SIZE = 4096
#: Value types that carry no text a secret could hide in.
_SCALARS = frozenset({int, float, bool, type(None), Decimal, datetime, date, UUID})


class Redactor:
    """structlog processor ``(logger, method, event_dict) -> event_dict`` that redacts secrets in place.

    Fast path (almost every event): each key and string value of the event (nested ones included) is tested for
    the registered values and the hint substrings, or found in a bounded set of texts already known clean
    (venue and symbol names, field names, repeated messages); only an event with a hit goes through the rules
    field by field. Exceptions, pydantic models, dataclasses and enums among the values are first made
    plain (text / dicts), so a secret cannot hide in an object the JSON encoder would stringify later.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known: set[str] = set()
        self._known_re: re.Pattern[str] | None = None
        self._known_list: tuple[str, ...] = ()
        self._clean: dict[str, None] = {}  # texts and keys known to hold nothing secret (bounded)
        self.register(*secrets)

    def register(self, *secrets: str | None) -> None:
        """Redact these exact values wherever they appear (values shorter than 4 characters are ignored)."""
        self._known.update(s for s in secrets if s and len(s) >= 4)
        if self._known:
            alternatives = sorted(self._known, key=len, reverse=True)
            self._known_re = re.compile("|".join(re.escape(s) for s in alternatives))
            self._known_list = tuple(alternatives)
        self._clean.clear()  # a text clean before may contain a newly registered value

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

    def _text_clean(self, text: str) -> bool:
        """True when ``text`` has no registered value and no hint substring (then short texts are remembered)."""
        for secret in self._known_list:
            if secret in text:
                return False
        lowered = text.lower()
        for hint in _HINTS:
            if hint in lowered:
                return False
        if len(text) <= _CACHED_LEN:
            clean = self._clean
            if len(clean) >= _CACHE_SIZE:
                clean.clear()
            clean[text] = None
        return True

    def _event_clean(self, event_dict: dict[str, Any]) -> bool:
        """Whether no key or text of the event can hold a secret (no false negatives for the rules of this
        module; a rare false positive only costs the slow path). Makes unusual values plain on the way."""
        clean = self._clean
        for key, value in event_dict.items():
            if key not in clean and not self._text_clean(str(key)):
                return False
            kind = type(value)
            if kind is str:
                if value not in clean and not self._text_clean(value):
                    return False
            elif kind not in _SCALARS:
                plain = _plain(value)
                if plain is not value:
                    event_dict[key] = plain  # same key: the dict's size does not change while iterating
                texts: list[str] = []
                _collect(plain, texts)
                for text in texts:
                    if text not in clean and not self._text_clean(text):
                        return False
        return True

    def __call__(self, logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        if self._event_clean(event_dict):
            return event_dict
        for key, value in event_dict.items():
            value = _plain(value)  # the fast path may have stopped before making every value plain
            if isinstance(value, (str, dict, list, tuple)) or _SECRET_KEY.match(str(key)):
                event_dict[key] = self._value(str(key), value)
        return event_dict


def _plain(value: Any) -> Any:
    """``value`` with objects that hide text made plain: an exception → ``"Type: message"``, a pydantic model or
    dataclass → its dict, an enum → its value, a set → a list; containers recursively; others unchanged."""
    kind = type(value)
    if kind is str or kind in _SCALARS:
        return value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, BaseModel):
        return _plain(value.model_dump())
    if isinstance(value, msgspec.Struct):
        return _plain(msgspec.structs.asdict(value))
    if isinstance(value, Enum):
        return _plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, (set, frozenset)):
        return [_plain(v) for v in sorted(value, key=str)]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


#: Public name: the tee copies a call's mutable field values with it (so a later change by the caller is not logged).
plain = _plain


def _collect(value: Any, texts: list[str]) -> None:
    """Append every key and string inside ``value`` (already plain) to ``texts``."""
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            texts.append(str(k))
            _collect(v, texts)
    elif isinstance(value, list):
        for v in value:
            _collect(v, texts)
