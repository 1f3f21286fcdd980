# syntax=docker/dockerfile:1
# wismo production image. One image runs every role of docker-compose.yml: gunicorn (the default
# command), the Celery worker, Celery beat and the one-shot migrate. Configuration comes from the
# environment only (see .env.example); nothing secret is baked in.
FROM python:3.11-slim

# PYTHONPATH: the code runs from /app (templates and app folders live beside it), never from the
# copy `pip install` puts in site-packages; without it `celery -A wismo` would mix the two.
# WISMO_VAR_DIR: the only writable place (beat's schedule lives in a volume under it).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=wismo.settings \
    WISMO_VAR_DIR=/var/lib/wismo \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 10001 wismo \
    && useradd --system --uid 10001 --gid wismo --home-dir /var/lib/wismo --no-create-home \
        --shell /usr/sbin/nologin wismo \
    && install -d -o wismo -g wismo -m 0750 /var/lib/wismo /var/lib/wismo/beat

WORKDIR /app

# Dependencies first, read from pyproject.toml: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source, file by file: the build context also holds .venv/, var/ (the embedded database)
# and .env, none of which may end up in an image. README.m[d] and template[s] are wildcards so that
# a checkout without them still builds (BuildKit copies nothing for an empty match).
COPY manage.py README.m[d] ./
COPY wismo ./wismo
COPY tenants ./tenants
COPY carriers ./carriers
COPY notifications ./notifications
COPY tracking_pages ./tracking_pages
COPY dashboard ./dashboard
COPY template[s] ./templates/
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && python -m compileall -q /app

# Static files are collected into the image (whitenoise serves them with hashed names). Settings
# refuse development secrets when DEBUG is off, so this one command gets throwaway values that
# exist only for its duration; they are not stored in the image.
RUN DEBUG=false \
    SECRET_KEY="build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    WISMO_ENCRYPTION_KEYS="$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    ALLOWED_HOSTS=build.invalid \
    WISMO_BASE_URL=https://build.invalid \
    python manage.py collectstatic --no-input --verbosity 1

USER wismo:wismo
EXPOSE 8000
# gthread: a request waiting on the database (a webhook's durable commit) does not hold a
# whole worker; WEB_CONCURRENCY sets the processes, GUNICORN_CMD_ARGS can override the rest.
CMD ["gunicorn", "wismo.wsgi:application", "-c", "python:wismo.gunicorn_conf", \
     "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", \
     "--worker-class", "gthread", "--threads", "4", "--access-logfile", "-", "--error-logfile", "-"]
