"""wismo's URLs plus ``POST /bench/hello/``, the baseline of bench/webhooks.py.

The view is what a Django endpoint cannot do less than: csrf-exempt and POST-only like the
webhook receiver, it reads the request body (so both receive the same bytes) and answers "ok".
``GET /bench/worker/`` answers the process id of the worker holding the connection: the load
generator places its connections evenly over the workers with it, before a round's clock starts.
"""

import os

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from wismo.urls import handler404, handler500  # noqa: F401 - the root URLconf must name them
from wismo.urls import urlpatterns as wismo_urlpatterns


@csrf_exempt
@require_POST
def hello(request):
    request.body  # noqa: B018 - received like the webhook's body, then ignored
    return HttpResponse("ok", content_type="text/plain")


def worker(request):
    return HttpResponse(str(os.getpid()), content_type="text/plain")


urlpatterns = [
    path("bench/hello/", hello, name="bench-hello"),
    path("bench/worker/", worker, name="bench-worker"),
    *wismo_urlpatterns,
]
