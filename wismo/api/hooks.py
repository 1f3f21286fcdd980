"""Inbound webhooks (carriers, shop platforms): verified, stored raw, answered fast; the services
store the delivery and nudge its processing (``wismo.tracking.services.inbox``)."""

from __future__ import annotations

import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from wismo.api.errors import error_body
from wismo.metrics import count_webhooks
from wismo.tracking.services.shop_webhooks import Ping, shop_webhook_receive
from wismo.tracking.services.webhooks import Received, WebhookRejected, carrier_push_receive


def _headers(request) -> dict[str, str]:
    """The request's headers, lower-cased. Read from META at once: ``request.headers.items()``
    looks every name up again through its case-insensitive mapping (~5% of an intake)."""
    meta = request.META
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in meta.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if key in meta:
            headers[key.replace("_", "-").lower()] = meta[key]
    return headers


def _received(received: Received) -> HttpResponse:
    """The answer to a stored delivery: JsonResponse's body, without its encoder class (a
    few microseconds of every delivery; the values are a word and an int)."""
    status = "duplicate" if received.duplicate else "accepted"
    return HttpResponse(
        json.dumps({"status": status, "id": received.webhook_id}), content_type="application/json"
    )


def _rejected(exc: WebhookRejected) -> JsonResponse:
    code = {404: "not_found", 401: "unauthorized", 413: "too_large"}.get(exc.status, "invalid")
    return JsonResponse(error_body(code, str(exc)), status=exc.status)


@count_webhooks("carrier")  # intake counted per carrier and outcome
@csrf_exempt  # authenticated by the carrier's signature or shared token, not a browser session
@require_POST
def carrier_push(request, slug: str, account_id: int):
    headers = _headers(request)
    try:
        received = carrier_push_receive(
            slug=slug, account_id=account_id, body=request.body, headers=headers
        )
    except WebhookRejected as exc:
        return _rejected(exc)
    return _received(received)


def _shop_hook(platform: str):
    @count_webhooks(f"shop:{platform}")
    @csrf_exempt  # authenticated by the platform's HMAC signature, not a browser session
    @require_POST
    def view(request, store_id: int):
        headers = _headers(request)
        try:
            received = shop_webhook_receive(
                platform=platform, store_id=store_id, body=request.body, headers=headers
            )
        except Ping:
            return JsonResponse({"status": "ok"})
        except WebhookRejected as exc:
            return _rejected(exc)
        return _received(received)

    return view


shopify_hook = _shop_hook("shopify")
woocommerce_hook = _shop_hook("woocommerce")
