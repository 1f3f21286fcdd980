"""Settings of the server bench/tracking_page.py starts: wismo's, with its own URLconf.

Everything else (middleware, database, cache, security) is wismo.settings, plus the tracking
pages' custom-domain middleware when wismo.settings does not list it yet. The "hello" view runs
the whole stack; the tracking page takes the pages lane (wismo/lanes.py), as in production. gunicorn finds this module and ``pages_urls`` with
``bench/`` on ``PYTHONPATH``.
"""

from wismo.settings import *  # noqa: F403
from wismo.settings import MIDDLEWARE

ROOT_URLCONF = "pages_urls"

_DOMAINS = "tracking_pages.middleware.CustomDomainMiddleware"
if _DOMAINS not in MIDDLEWARE:
    MIDDLEWARE = list(MIDDLEWARE)
    MIDDLEWARE.insert(MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1, _DOMAINS)
