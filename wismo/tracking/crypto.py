"""Secrets at rest: Fernet encryption with key rotation (``WISMO_ENCRYPTION_KEYS``, newest first).

Values are encrypted with the newest key and decrypted with any listed key, so rotating means
putting a new key first, running ``manage.py rotate_secrets`` and then dropping the old key.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("WISMO_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "WISMO_ENCRYPTION_KEYS must be comma-separated Fernet keys "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.WISMO_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key in WISMO_ENCRYPTION_KEYS"
        ) from exc


@lru_cache(maxsize=1024)
def _decrypt_cached(keys: tuple[str, ...], token: str) -> str:
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with any key in WISMO_ENCRYPTION_KEYS"
        ) from exc


def decrypt_hot(token: str) -> str:
    """``decrypt`` remembered per token, for secrets read on every request (webhook intake).

    Keyed by the ciphertext: a new or rotated secret is a new token, so nothing goes stale.
    """
    return _decrypt_cached(tuple(settings.WISMO_ENCRYPTION_KEYS), token)


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the newest key."""
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token. Empty values are stored as an empty string."""

    description = "JSON encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {} if value == "" else None
        return json.loads(decrypt(value))

    def to_python(self, value):
        if isinstance(value, str) and value:
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return json.loads(decrypt(value))
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        if value in ({}, ""):
            return ""
        return encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj):
        # Dumps and fixtures never carry the plaintext.
        return "<encrypted>"


class EncryptedTextField(models.TextField):
    """A string stored as a Fernet token."""

    description = "Text encrypted at rest"

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        if value in (None, ""):
            return value
        return encrypt(str(value))

    def value_to_string(self, obj):
        return "<encrypted>"
