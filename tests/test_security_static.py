"""Static guards over the product's code (hardening, issue #9).

- No secret, signature, digest or token is compared with ``==``/``!=``/``in``: only with
  ``hmac.compare_digest``, whose time does not depend on how much of the value matched.
- The production configuration sends secure cookies and headers, and never answers CORS with a
  wildcard.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["wismo", "tenants", "carriers", "notifications", "tracking_pages", "dashboard"]
SECRETISH = re.compile(r"(signature|hmac|digest|secret|hashed|password|token)", re.I)

# Comparisons that mention such a word but compare no secret, each with its reason.
ALLOWED = {
    ("wismo/settings.py", "SECRET_KEY == _DEV_SECRET_KEY"): "refuses the public development key",
    (
        "wismo/logging.py",
        "option in inspect.signature(ClientConstructor.__init__).parameters",
    ): "a function signature, not a cryptographic one",
    (
        "carriers/adapters/usps.py",
        'error in ("invalid_client", "invalid_token")',
    ): "an OAuth error code from the carrier",
    (
        "dashboard/views/accounts.py",
        'data.get("password1") != data.get("password2")',
    ): "the user's two entries of a new password",
}


def _comparisons():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            source = path.read_text()
            for node in ast.walk(ast.parse(source)):
                if not isinstance(node, ast.Compare):
                    continue
                if not any(
                    isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops
                ):
                    continue
                sides = [node.left, *node.comparators]
                if any(
                    SECRETISH.search(ast.get_source_segment(source, side) or "")
                    for side in sides
                    if not isinstance(side, ast.Constant)
                ):
                    yield (
                        str(path.relative_to(ROOT)),
                        ast.get_source_segment(source, node),
                        node.lineno,
                    )


def test_no_secret_is_compared_with_equality():
    found = [
        f"{path}:{line}: {text}"
        for path, text, line in _comparisons()
        if (path, text) not in ALLOWED
    ]
    assert not found, "use hmac.compare_digest for these:\n" + "\n".join(found)


def test_the_allow_list_has_no_stale_entries():
    seen = {(path, text) for path, text, _ in _comparisons()}
    assert set(ALLOWED) <= seen


@pytest.fixture
def production(monkeypatch):
    """wismo.settings as a production process reads it (DEBUG off, real secrets)."""
    import importlib

    from cryptography.fernet import Fernet

    monkeypatch.setenv("DEBUG", "false")
    monkeypatch.setenv("SECRET_KEY", "x" * 20 + "-production-only-secret-key-for-this-test")
    monkeypatch.setenv("WISMO_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ALLOWED_HOSTS", "wismo.example")
    monkeypatch.setenv("WISMO_BASE_URL", "https://wismo.example")
    import wismo.settings as live

    module = importlib.util.module_from_spec(importlib.util.find_spec("wismo.settings"))
    module.__spec__.loader.exec_module(module)
    yield module
    assert live.DEBUG is not None  # the live settings module was not touched


def test_production_cookies_and_headers_are_secure(production):
    assert production.DEBUG is False
    assert production.SESSION_COOKIE_SECURE is True
    assert production.CSRF_COOKIE_SECURE is True
    assert production.SESSION_COOKIE_HTTPONLY is True
    assert production.SECURE_SSL_REDIRECT is True
    assert production.SECURE_HSTS_SECONDS >= 31536000
    assert production.SECURE_CONTENT_TYPE_NOSNIFF is True
    assert "django.middleware.csrf.CsrfViewMiddleware" in production.MIDDLEWARE
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in production.MIDDLEWARE


def test_no_cors_wildcard_with_credentials(client, db):
    """No route answers a foreign origin with a wildcard (or with credentials allowed)."""
    for path in ("/api/v1/shipments/", "/dashboard/", "/accounts/login/", "/healthz"):
        response = client.get(path, HTTP_ORIGIN="https://evil.example")
        assert response.get("Access-Control-Allow-Origin") in (None, "")
        assert response.get("Access-Control-Allow-Credentials") in (None, "")
