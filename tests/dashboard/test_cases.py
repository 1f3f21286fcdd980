"""Shopper-reported cases: open -> answered -> resolved, one email per reply, tenants apart."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.scoping import tenant_scope
from tracking_pages import services as page_services
from tracking_pages.models import ProblemReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def report_a(tenant_a, shipment_a):
    with tenant_scope(tenant_a):
        report, _ = page_services.problem_report_create(
            order=shipment_a.order,
            shipment=shipment_a,
            kind="damaged",
            message="The box was <script>alert(1)</script> crushed",
            language="it",
        )
    return report


def _url(report) -> str:
    return f"/dashboard/cases/{report.pk}/"


def _reload(tenant, report) -> ProblemReport:
    with tenant_scope(tenant):
        return ProblemReport.objects.get(pk=report.pk)


def test_the_case_page_shows_the_report_parcel_order_and_escaped_message(
    report_a, agent_client, shipment_a
):
    response = agent_client.get(_url(report_a))

    body = response.content.decode()
    assert response.status_code == 200
    assert "#1001" in body and shipment_a.tracking_number in body
    assert f'href="/dashboard/shipments/{shipment_a.pk}/"' in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body


def test_an_agent_answers_and_the_shopper_gets_one_email_in_their_language(
    report_a, agent_client, tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(
            _url(report_a), {"action": "answer", "reply": "Ti mandiamo un pacco nuovo."}
        )
    with django_capture_on_commit_callbacks(execute=True):
        again = agent_client.post(
            _url(report_a), {"action": "answer", "reply": "Ti mandiamo un pacco nuovo."}
        )

    assert (response.status_code, again.status_code) == (302, 302)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["ada@example.com"]
    assert mail.subject == "La tua segnalazione sull'ordine 1001"
    assert "Ti mandiamo un pacco nuovo." in mail.body
    assert "Ciao Ada," in mail.body
    report = _reload(tenant_a, report_a)
    assert report.state == "answered"
    assert report.reply == "Ti mandiamo un pacco nuovo."
    assert report.answered_at is not None and report.answered_by is not None


def test_no_email_leaves_before_the_reply_is_committed(
    report_a, agent_client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        agent_client.post(_url(report_a), {"action": "answer", "reply": "On its way."})

    assert mailoutbox == []
    assert len(callbacks) == 1


def test_an_empty_reply_is_a_form_error_and_changes_nothing(
    report_a, agent_client, tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(_url(report_a), {"action": "answer", "reply": "   "})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert mailoutbox == []
    report = _reload(tenant_a, report_a)
    assert (report.state, report.reply, report.answered_at) == ("open", "", None)


def test_an_unknown_action_is_refused(report_a, agent_client, tenant_a):
    response = agent_client.post(_url(report_a), {"action": "delete"})

    assert response.status_code == 400
    assert _reload(tenant_a, report_a).state == "open"


def test_resolve_then_reopen(report_a, agent_client, tenant_a, agent_a):
    agent_client.post(_url(report_a), {"action": "resolve"})
    resolved = _reload(tenant_a, report_a)
    agent_client.post(_url(report_a), {"action": "reopen"})
    reopened = _reload(tenant_a, report_a)

    assert (resolved.state, resolved.resolved_by_id) == ("resolved", agent_a.pk)
    assert resolved.resolved_at is not None
    assert (reopened.state, reopened.resolved_at, reopened.resolved_by_id) == ("open", None, None)


def test_a_resolved_case_cannot_be_answered_without_reopening(
    report_a, agent_client, tenant_a, mailoutbox, django_capture_on_commit_callbacks
):
    agent_client.post(_url(report_a), {"action": "resolve"})
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(_url(report_a), {"action": "answer", "reply": "Late"})

    assert response.status_code == 400
    assert mailoutbox == []
    assert _reload(tenant_a, report_a).reply == ""


def test_reopening_is_refused_when_the_shopper_opened_a_new_case_of_that_kind(
    report_a, agent_client, tenant_a, shipment_a
):
    agent_client.post(_url(report_a), {"action": "resolve"})
    with tenant_scope(tenant_a):
        _, created = page_services.problem_report_create(
            order=shipment_a.order, shipment=shipment_a, kind="damaged"
        )

    response = agent_client.post(_url(report_a), {"action": "reopen"})

    assert created
    assert response.status_code == 409
    assert _reload(tenant_a, report_a).state == "resolved"


def test_an_answered_case_still_counts_as_open_for_the_shopper(
    report_a, agent_client, tenant_a, shipment_a
):
    agent_client.post(_url(report_a), {"action": "answer", "reply": "Looking into it."})
    with tenant_scope(tenant_a):
        again, created = page_services.problem_report_create(
            order=shipment_a.order, shipment=shipment_a, kind="damaged", message="Any news?"
        )

    assert (created, again.pk) == (False, report_a.pk)


def test_the_shopper_sees_the_merchants_reply_on_their_report_page(
    report_a, agent_client, tenant_a, shipment_a
):
    agent_client.post(_url(report_a), {"action": "answer", "reply": "New parcel <i>today</i>."})
    shopper = Client()
    proof = shopper.post(
        f"/t/{tenant_a.slug}/", {"order_number": "1001", "email": "ada@example.com"}
    )
    assert proof.status_code == 303

    page = shopper.get(f"/t/{tenant_a.slug}/{shipment_a.public_token}/report/?lang=en")

    body = page.content.decode()
    assert page.status_code == 200
    assert "The store replied on" in body
    assert "New parcel &lt;i&gt;today&lt;/i&gt;." in body


def test_tenant_b_opening_tenant_a_case_gets_404(report_a, client_b, tenant_a):
    assert client_b.get(_url(report_a)).status_code == 404
    response = client_b.post(_url(report_a), {"action": "resolve"})

    assert response.status_code == 404
    assert _reload(tenant_a, report_a).state == "open"


def test_a_missing_case_is_404(agent_client):
    assert agent_client.get("/dashboard/cases/999999/").status_code == 404
