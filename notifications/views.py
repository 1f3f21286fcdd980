"""The shopper's unsubscribe page and the one-click unsubscribe (RFC 8058) endpoint."""

from __future__ import annotations

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from notifications.models import Suppression
from notifications.services.context import UNSUBSCRIBE_SALT
from notifications.services.tracking import suppression_add
from tenants.models import Tenant


@csrf_exempt  # mail clients POST the one-click request without any cookie or token of ours
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        tenant_id, email = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        tenant = Tenant.objects.get(pk=int(tenant_id), is_active=True)
    except (signing.BadSignature, ValueError, TypeError, Tenant.DoesNotExist):
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=404)
    done = False
    if request.method == "POST":
        suppression_add(
            tenant_id=tenant.pk, email=str(email), reason=Suppression.Reason.UNSUBSCRIBED
        )
        done = True
    elif request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    return render(
        request,
        "notifications/unsubscribe.html",
        {"tenant": tenant, "done": done, "email": str(email)},
    )
