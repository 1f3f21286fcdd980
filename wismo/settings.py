"""wismo settings: embedded defaults with no environment, production by environment.

With no environment variables the product runs on one machine with nothing else installed: SQLite
under ``var/``, kombu's filesystem transport as the Celery broker, a local-memory cache and email
written to files. Every production service is switched on by an environment variable (see README).
With ``DEBUG`` off, an insecure or missing setting stops the process with a clear message.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from wismo.logging import logging_config, sentry_init

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("WISMO_VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float, *, allow_zero: bool = False) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc
    low_ok = value >= 0 if allow_zero else value > 0
    if not low_ok or value >= 3600:
        raise ImproperlyConfigured(f"{name} must be between 0 and 3600, got {raw!r}")
    return value


DEBUG = env_bool("DEBUG", True)

# Development-only fallbacks. They are refused when DEBUG is off (see _refuse_insecure_defaults).
_DEV_SECRET_KEY = "wismo-embedded-development-key-not-for-production-use-0123456789"  # noqa: S105
# A fixed Fernet key for the embedded demo only; production must set WISMO_ENCRYPTION_KEYS.
_DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktd2lzbW8tZmVybmV0LWtleS0xMjM0NTY="

SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
WISMO_BASE_URL = os.environ.get("WISMO_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
WISMO_ENCRYPTION_KEYS = env_list("WISMO_ENCRYPTION_KEYS", _DEV_ENCRYPTION_KEY)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", WISMO_BASE_URL)


def _is_fernet(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def _refuse_insecure_defaults() -> None:
    """Stop a production process (DEBUG off) that would run on development secrets."""
    problems = []
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        problems.append("SECRET_KEY must be set to a random string of at least 50 characters")
    if not WISMO_ENCRYPTION_KEYS or _DEV_ENCRYPTION_KEY in WISMO_ENCRYPTION_KEYS:
        problems.append(
            "WISMO_ENCRYPTION_KEYS must be set to your own Fernet keys (comma-separated, newest first)"
        )
    elif invalid := [
        str(n) for n, key in enumerate(WISMO_ENCRYPTION_KEYS, 1) if not _is_fernet(key)
    ]:
        # Caught here rather than at the first encrypted write; the keys themselves are not echoed.
        problems.append(
            "WISMO_ENCRYPTION_KEYS holds something that is not a Fernet key at position "
            f"{', '.join(invalid)} (a key is 32 url-safe base64-encoded bytes)"
        )
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must list the host names this site serves")
    if "WISMO_BASE_URL" not in os.environ:
        problems.append("WISMO_BASE_URL must be the public https URL that emails and pages link to")
    if problems:
        raise ImproperlyConfigured(
            "wismo refuses to start with DEBUG off and insecure defaults: " + "; ".join(problems)
        )


if not DEBUG:
    _refuse_insecure_defaults()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "tenants",
    "carriers",
    "wismo.tracking",
    "wismo.api",
    "notifications",
    "tracking_pages",
    "dashboard",
    "django_htmx",
    "django_filters",
]

MIDDLEWARE = [
    # First: every response (redirects and errors too) carries an X-Request-ID and is logged.
    "wismo.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A tenant's own domain serves its tracking pages at / and /<token>/.
    "tracking_pages.middleware.CustomDomainMiddleware",
    # Webhooks and shopper pages go on without the dashboard's middleware (wismo/lanes.py).
    "wismo.lanes.LanesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.TenantScopeMiddleware",
    # Records every dashboard and API change (who, what, when, from where) after the response.
    "dashboard.audit.AuditMiddleware",
]

ROOT_URLCONF = "wismo.urls"
WSGI_APPLICATION = "wismo.wsgi.application"
ASGI_APPLICATION = "wismo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
_SQLITE_PATH = VAR_DIR / "wismo.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{_SQLITE_PATH}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL lets readers run beside the writer, and IMMEDIATE
    # transactions take the write lock up front instead of failing halfway with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
# The hottest statements (page reads, webhook inserts) are prepared once per connection
# (wismo.db); off behind a transaction-pooling proxy such as PgBouncer in transaction mode.
WISMO_DB_PREPARED = env_bool("WISMO_DB_PREPARED", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker -------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, reusing its Redis client (wismo/cache.py).
            "BACKEND": "wismo.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One folder for both directions, so that a worker and beat on this machine share queues.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        # Broadcast (remote control) exchanges, otherwise created in the working directory.
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task whose worker died is redelivered after this long (tasks are idempotent). Workers
    # look for such abandoned tasks every `unacked_restore_interval` seconds (kombu's default
    # sweep is only every ~100 s).
    _visibility = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility,
        "unacked_restore_interval": max(1, min(30, _visibility // 2)),
        "unacked_restore_throttle": 1,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "wismo.tracking.tasks.poll_*": {"queue": "poll"},
    "wismo.tracking.tasks.import_*": {"queue": "import"},
    "wismo.tracking.tasks.write_back_*": {"queue": "import"},
    "notifications.tasks.*": {"queue": "notify"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
WISMO_NOTIFY_SWEEP_SECONDS = env_int("WISMO_NOTIFY_SWEEP_SECONDS", 30)
WISMO_NOTIFY_BATCH = env_int("WISMO_NOTIFY_BATCH", 100)
# Emails in flight per sender (threads): a provider's latency, not our CPU, bounds the rate.
WISMO_NOTIFY_CONCURRENCY = env_int("WISMO_NOTIFY_CONCURRENCY", 8)
# Sender tasks each sweep starts (on as many workers): total in flight = senders x concurrency.
WISMO_NOTIFY_SENDERS = env_int("WISMO_NOTIFY_SENDERS", 2)
CELERY_BEAT_SCHEDULE = {
    "poll-due-shipments": {
        "task": "wismo.tracking.tasks.poll_due_shipments",
        "schedule": env_int("WISMO_POLL_SWEEP_SECONDS", 60),
    },
    "relay-inbound-webhooks": {
        "task": "wismo.tracking.tasks.relay_inbound_webhooks",
        "schedule": 60,
    },
    "import-due-stores": {
        "task": "wismo.tracking.tasks.import_due_stores",
        "schedule": 60,
    },
    "write-back-due": {
        "task": "wismo.tracking.tasks.write_back_due",
        "schedule": 60,
    },
    "edd-refit": {"task": "wismo.tracking.tasks.edd_fit_due", "schedule": 86400},
    "edd-flag-sweep": {"task": "wismo.tracking.tasks.edd_flag_sweep", "schedule": 3600},
    "detect-quiet-shipments": {
        "task": "wismo.tracking.tasks.detect_quiet_shipments",
        "schedule": 3600,
    },
    "flush-page-views": {"task": "tracking_pages.tasks.flush_page_views", "schedule": 60},
    "relay-status-changes": {
        "task": "notifications.tasks.relay_status_changes",
        "schedule": 60,
    },
    "send-due-notifications": {
        "task": "notifications.tasks.notify_sweep",
        "schedule": WISMO_NOTIFY_SWEEP_SECONDS,
    },
    "deliver-webhooks": {
        "task": "notifications.tasks.deliver_webhooks",
        "schedule": 30,
    },
    "retention": {"task": "wismo.tracking.tasks.retention_sweep", "schedule": 86400},
}

# --- Auth, i18n, static -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"

LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("it", "Italiano"),
    ("es", "Español"),
    ("de", "Deutsch"),
    ("fr", "Français"),
]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Serve static files from the finders in development, so that no collectstatic step is needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
if EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":
    # The same backend and settings, plus the outbox's commit point before the final dot, so a
    # sender killed mid-send does not email the shopper twice (notifications/smtp.py).
    EMAIL_BACKEND = "notifications.smtp.EmailBackend"
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "wismo <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# anymail reads its provider keys from ANYMAIL_* variables (e.g. ANYMAIL_POSTMARK_SERVER_TOKEN).
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_")
}
# A number, not text (requests refuses a string timeout), and well inside the sender's lease.
ANYMAIL["REQUESTS_TIMEOUT"] = env_float("ANYMAIL_REQUESTS_TIMEOUT", 10.0)

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["wismo.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["wismo.api.permissions.HasTenantApiKey"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "wismo.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["wismo.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["wismo.api.parsers.SafeJSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["wismo.api.throttling.ApiKeyRateThrottle"],
}
# Requests per minute an API key may make unless the key has its own limit.
WISMO_API_RATE_LIMIT_PER_MINUTE = env_int("WISMO_API_RATE_LIMIT_PER_MINUTE", 600)
SPECTACULAR_SETTINGS = {
    "TITLE": "wismo API",
    "DESCRIPTION": "Shipments, orders and tracking timelines of one tenant. "
    "Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Every operation also documents its errors, in the one shape of wismo/api/errors.py.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "wismo.api.errors.document_errors",
        "wismo.api.errors.document_local_times",
        "wismo.api.errors.document_blank_strings",
    ],
    # Shipments and events share the full status taxonomy; naming it keeps the schema stable (a
    # bare "status" collides with the manual-event choices, which leave out "expired").
    "ENUM_NAME_OVERRIDES": {
        "ShipmentStatusEnum": "wismo.tracking.models.STATUS_CHOICES",
        "TriggerEnum": "notifications.models.Trigger",
    },
}

# --- Security (production) --------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Health probes come over plain HTTP from inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Logs, metrics, errors -------------------------------------------------------------------
# JSON lines with request/task id and tenant (wismo.logging) by default in production.
WISMO_LOG_FORMAT = os.environ.get("WISMO_LOG_FORMAT", "plain" if DEBUG else "json").lower()
if WISMO_LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"WISMO_LOG_FORMAT must be json or plain, got {WISMO_LOG_FORMAT!r}")
LOGGING = logging_config(
    json_format=WISMO_LOG_FORMAT == "json", level=os.environ.get("LOG_LEVEL", "INFO")
)
# /metrics: with a token, Bearer only; without, direct requests from private networks only.
WISMO_METRICS_TOKEN = os.environ.get("WISMO_METRICS_TOKEN", "")
# Error reporting through Sentry's SDK, only with a DSN (no PII, credentials scrubbed).
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    sentry_init(
        dsn=SENTRY_DSN,
        environment=os.environ.get("SENTRY_ENVIRONMENT", ""),
        release=os.environ.get("SENTRY_RELEASE", ""),
    )

# --- wismo ------------------------------------------------------------------------------------
# How often an active shipment is checked with its carrier by default, and when tracking stops.
WISMO_POLL_INTERVAL_MINUTES = env_int("WISMO_POLL_INTERVAL_MINUTES", 180)
WISMO_TRACKING_WINDOW_DAYS = env_int("WISMO_TRACKING_WINDOW_DAYS", 30)
# Carrier batches one poll task sends at once (threads), and due shipments claimed per sweep.
WISMO_POLL_CONCURRENCY = env_int("WISMO_POLL_CONCURRENCY", 8)
WISMO_POLL_CLAIM_LIMIT = env_int("WISMO_POLL_CLAIM_LIMIT", 5000)
# Namespace of wismo's keys in Redis (rate limits, circuit breakers), for a shared Redis.
WISMO_REDIS_PREFIX = os.environ.get("WISMO_REDIS_PREFIX", "wismo")
# Delivery dates: flag a label never scanned, an order never shipped, after this many days.
WISMO_EDD_NEVER_SCANNED_DAYS = env_int("WISMO_EDD_NEVER_SCANNED_DAYS", 3)
WISMO_EDD_NOT_SHIPPED_DAYS = env_int("WISMO_EDD_NOT_SHIPPED_DAYS", 3)
# Webhook intake: a web process nudges a tenant's inbox drain at most this often (seconds).
WISMO_INBOX_DEBOUNCE_SECONDS = env_float("WISMO_INBOX_DEBOUNCE_SECONDS", 1.0, allow_zero=True)
# Retention (wismo.tracking.services.retention, daily): shoppers' personal data this many days
# after their parcels' delivery, raw webhook bodies this many days after processing.
WISMO_RETENTION_PERSONAL_DAYS = env_int("WISMO_RETENTION_PERSONAL_DAYS", 120)
WISMO_RETENTION_RAW_DAYS = env_int("WISMO_RETENTION_RAW_DAYS", 30)
# PostgreSQL row-level security (tenants.rls): each statement carries its tenant. The policies
# bind only a role that is not a superuser and owns nothing (manage.py db_app_role).
WISMO_DB_ROW_SECURITY = env_bool("WISMO_DB_ROW_SECURITY", True)

# A read-only image in production uses nothing embedded, so a failure here is harmless.
with contextlib.suppress(OSError):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
