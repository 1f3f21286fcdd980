import pytest

pytestmark = pytest.mark.django_db


def test_create_list_and_read_a_shipment(api_a):
    response = api_a.post(
        "/api/v1/shipments/",
        {
            "tracking_number": "own-123 45",
            "carrier": "manual",
            "order_number": "1001",
            "customer_email": "a@example.com",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["tracking_number"] == "OWN12345"
    assert body["status"] == "pending"
    assert body["tracking_url"].startswith("http")
    listed = api_a.get("/api/v1/shipments/").json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]
    detail = api_a.get(f"/api/v1/shipments/{body['id']}/").json()
    assert detail["events"] == []
