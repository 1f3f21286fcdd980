"""Settings by environment (DESIGN.md §4): embedded defaults with nothing set, production services
switched on by variables, and a production process (DEBUG off) that refuses development secrets.

Each test starts ``manage.py`` in a fresh interpreter with an environment built from scratch, because
settings are read once per process."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktd2lzbW8tZmVybmV0LWtleS0xMjM0NTY="  # the embedded demo's key

# Printed by `manage.py shell -c` as one JSON line: the settings these tests look at.
SHOW_SETTINGS = """
import json
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "DEBUG": s.DEBUG,
    "ENGINE": db["ENGINE"], "NAME": str(db["NAME"]), "HOST": db.get("HOST"), "PORT": db.get("PORT"),
    "USER": db.get("USER"), "CONN_MAX_AGE": db["CONN_MAX_AGE"], "OPTIONS": db.get("OPTIONS", {}),
    "CACHE_BACKEND": s.CACHES["default"]["BACKEND"],
    "CACHE_LOCATION": s.CACHES["default"].get("LOCATION"),
    "BROKER_URL": s.CELERY_BROKER_URL,
    "BROKER_OPTIONS": s.CELERY_BROKER_TRANSPORT_OPTIONS,
    "EMAIL_BACKEND": s.EMAIL_BACKEND, "EMAIL_FILE_PATH": s.EMAIL_FILE_PATH,
    "BEAT_SCHEDULE_FILENAME": s.CELERY_BEAT_SCHEDULE_FILENAME,
}))
"""


def production_env() -> dict[str, str]:
    """A complete, valid production configuration (services aside)."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "WISMO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "track.example.com",
        "WISMO_BASE_URL": "https://track.example.com",
        "DEFAULT_FROM_EMAIL": "Example Shop <tracking@example.com>",
    }


def manage(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` with only PATH, HOME, WISMO_VAR_DIR and ``variables`` in its environment."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "WISMO_VAR_DIR": str(tmp_path / "var"),
        **variables,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def shown_settings(tmp_path: Path, **variables: str) -> dict:
    result = manage(tmp_path, "shell", "--no-imports", "-c", SHOW_SETTINGS, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The last line of stderr: the ImproperlyConfigured message that stopped the process."""
    assert result.returncode != 0, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: wismo refuses to start")
    return last


# --- production refuses development secrets -------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SECRET_KEY", None),
        ("SECRET_KEY", "too-short"),
        ("SECRET_KEY", "a" * 80),  # long but not random
        ("WISMO_ENCRYPTION_KEYS", None),
        ("WISMO_ENCRYPTION_KEYS", ""),
        ("WISMO_ENCRYPTION_KEYS", DEV_ENCRYPTION_KEY),
        ("ALLOWED_HOSTS", None),
        ("ALLOWED_HOSTS", " , "),
    ],
)
def test_production_refuses_to_start_on_a_missing_or_insecure_setting(tmp_path, variable, value):
    # given a complete production configuration with one setting missing or insecure
    env = production_env()
    if value is None:
        del env[variable]
    else:
        env[variable] = value

    result = manage(tmp_path, "check", **env)

    # then the process stops, naming that setting and no other
    message = refusal(result)
    assert variable in message
    others = {"SECRET_KEY", "WISMO_ENCRYPTION_KEYS", "ALLOWED_HOSTS"} - {variable}
    assert not [name for name in others if name in message]


def test_production_refuses_an_encryption_key_that_is_not_a_fernet_key(tmp_path):
    # given a valid newest key followed by a mistyped older one
    env = production_env()
    mistyped = "not-a-fernet-key-but-secret-looking-0123456789"
    env["WISMO_ENCRYPTION_KEYS"] = f"{env['WISMO_ENCRYPTION_KEYS']},{mistyped}"

    message = refusal(manage(tmp_path, "check", **env))

    assert "WISMO_ENCRYPTION_KEYS" in message
    assert "position 2" in message
    assert mistyped not in message  # the refusal never echoes key material


def test_production_with_development_defaults_names_every_problem(tmp_path):
    message = refusal(manage(tmp_path, "check", DEBUG="false"))

    for name in ("SECRET_KEY", "WISMO_ENCRYPTION_KEYS", "ALLOWED_HOSTS"):
        assert name in message


def test_a_full_production_configuration_passes_the_deployment_checks(tmp_path):
    env = production_env()
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'wismo.sqlite3'}"
    env["WISMO_ENCRYPTION_KEYS"] += "," + Fernet.generate_key().decode()  # rotation: two keys

    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **env)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


# --- embedded defaults ----------------------------------------------------------------------------


def test_with_no_environment_the_checks_pass(tmp_path):
    result = manage(tmp_path, "check")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_with_no_environment_wismo_runs_on_sqlite_and_the_filesystem_broker(tmp_path):
    shown = shown_settings(tmp_path)

    var = tmp_path / "var"
    assert shown["DEBUG"] is True
    assert shown["ENGINE"] == "django.db.backends.sqlite3"
    assert shown["NAME"] == str(var / "wismo.sqlite3")
    assert shown["BROKER_URL"] == "filesystem://"
    # one folder both ways, so that a worker and beat on this machine share their queues
    assert shown["BROKER_OPTIONS"]["data_folder_in"] == str(var / "broker" / "queue")
    assert shown["BROKER_OPTIONS"]["data_folder_out"] == shown["BROKER_OPTIONS"]["data_folder_in"]
    assert shown["CACHE_BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert shown["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert shown["EMAIL_FILE_PATH"] == str(var / "mail")
    assert shown["BEAT_SCHEDULE_FILENAME"] == str(var / "celerybeat-schedule")
    assert var.is_dir()


# --- production services by environment -----------------------------------------------------------


def test_database_url_and_redis_url_switch_to_postgresql_and_redis(tmp_path):
    shown = shown_settings(
        tmp_path,
        DATABASE_URL="postgres://wismo:s3cret@db.internal:5433/wismo",
        REDIS_URL="redis://cache.internal:6379/0",
    )

    assert shown["ENGINE"] == "django.db.backends.postgresql"
    assert (shown["HOST"], shown["PORT"], shown["NAME"], shown["USER"]) == (
        "db.internal",
        5433,
        "wismo",
        "wismo",
    )
    assert shown["CONN_MAX_AGE"] == 60
    assert shown["OPTIONS"]["connect_timeout"] == 5
    assert shown["CACHE_BACKEND"] == "wismo.cache.RedisCache"
    assert shown["CACHE_LOCATION"] == "redis://cache.internal:6379/0"
    # the broker follows REDIS_URL unless CELERY_BROKER_URL says otherwise
    assert shown["BROKER_URL"] == "redis://cache.internal:6379/0"
    assert shown["BROKER_OPTIONS"]["visibility_timeout"] == 3600
    assert shown["BROKER_OPTIONS"]["unacked_restore_interval"] == 30  # abandoned tasks found fast


def test_celery_broker_url_takes_precedence_over_redis_url(tmp_path):
    shown = shown_settings(
        tmp_path,
        REDIS_URL="redis://cache.internal:6379/0",
        CELERY_BROKER_URL="redis://broker.internal:6379/1",
        CELERY_VISIBILITY_TIMEOUT="7200",
        DATABASE_CONN_MAX_AGE="0",
        DATABASE_URL="postgres://wismo@db.internal/wismo",
    )

    assert shown["BROKER_URL"] == "redis://broker.internal:6379/1"
    assert shown["BROKER_OPTIONS"]["visibility_timeout"] == 7200
    assert shown["CACHE_LOCATION"] == "redis://cache.internal:6379/0"
    assert shown["CONN_MAX_AGE"] == 0


def test_a_malformed_number_stops_the_process_with_its_name(tmp_path):
    result = manage(tmp_path, "check", WISMO_POLL_INTERVAL_MINUTES="soon")

    assert result.returncode != 0
    assert (
        "WISMO_POLL_INTERVAL_MINUTES must be an integer" in result.stderr.strip().splitlines()[-1]
    )


def test_production_refuses_to_start_without_a_public_base_url(tmp_path):
    env = production_env()
    del env["WISMO_BASE_URL"]
    result = manage(tmp_path, "check", **env)
    assert result.returncode != 0
    assert "WISMO_BASE_URL" in result.stderr


def test_djangos_smtp_backend_gets_the_outboxs_commit_point(tmp_path):
    """EMAIL_BACKEND as DESIGN.md documents it selects the product's subclass (same settings),
    whose commit point keeps a killed sender from emailing twice (notifications/smtp.py)."""
    shown = shown_settings(tmp_path, EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend")
    assert shown["EMAIL_BACKEND"] == "notifications.smtp.EmailBackend"
