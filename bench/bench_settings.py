"""Settings of the web server bench/webhooks.py starts: wismo's, with a URLconf adding one view.

Everything else (middleware, database, broker, security) is exactly wismo.settings: the trivial
view runs the whole stack, the webhook endpoint its hooks lane (wismo/lanes.py), as in
production. gunicorn finds this module and
``bench_urls`` with ``bench/`` on ``PYTHONPATH``.
"""

from wismo.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
