"""wismo's URLs plus ``GET /bench/pages-hello/``, the baseline of bench/tracking_page.py.

The view is the least a Django GET can do: it answers "hello". The tracking pages are mounted at
``/t/`` here (right after it) when ``wismo/urls.py`` does not mount them yet.
"""

from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from wismo.urls import handler404, handler500  # noqa: F401 - the root URLconf must name them
from wismo.urls import urlpatterns as wismo_urlpatterns


@require_GET
def hello(request):
    return HttpResponse("hello", content_type="text/plain")


_mounted = any(getattr(p, "namespace", None) == "tracking_pages" for p in wismo_urlpatterns)

# Both first, as wismo/urls.py should mount the pages: the hottest public routes resolve first.
urlpatterns = [
    path("bench/pages-hello/", hello, name="bench-pages-hello"),
    *([] if _mounted else [path("t/", include("tracking_pages.urls"))]),
    *wismo_urlpatterns,
]
