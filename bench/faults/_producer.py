"""A producing process of crash_after_commit.py: the side of wismo that records carrier news
(a poll, a webhook), as its own process so that it can die or lose its broker.

    python bench/faults/_producer.py --tenant T --first ID --last ID --occurred ISO
        [--chunk 25] [--die-after-commit]

Records one "out for delivery" event (at ``--occurred``, the same in every life of the
producer, so a replay would be a no-op) on every shipment of ids ``first..last`` still in
transit, ``--chunk`` shipments per transaction through ``record_events_batch``; the kernel
sends ``shipment_status_changed`` after each commit and notifications' receiver enqueues the
dispatch. ``--die-after-commit`` puts a receiver in front of that one which SIGKILLs this
process: the change is committed and its nudge never leaves. The broker is whatever
``CELERY_BROKER_URL`` says (a dead port for an outage). Prints ``ready`` once set up, then
``committed N`` after each transaction and ``done`` at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", type=int, required=True)
    parser.add_argument("--first", type=int, required=True)
    parser.add_argument("--last", type=int, required=True)
    parser.add_argument("--occurred", required=True)
    parser.add_argument("--chunk", type=int, default=25)
    parser.add_argument("--die-after-commit", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from carriers.base import CarrierEvent
    from notifications import receivers
    from tenants.scoping import tenant_scope
    from wismo.tracking.models import Shipment
    from wismo.tracking.services.timeline import record_events_batch
    from wismo.tracking.signals import shipment_status_changed

    if args.die_after_commit:

        def die(sender, **kwargs) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        # Receivers run in the order they were connected: ours first, the nudge after it.
        shipment_status_changed.disconnect(dispatch_uid="notifications-dispatch")
        shipment_status_changed.connect(die, dispatch_uid="faults-die", weak=False)
        shipment_status_changed.connect(
            receivers.on_status_changed, dispatch_uid="notifications-dispatch"
        )

    occurred = datetime.fromisoformat(args.occurred)
    event = CarrierEvent(occurred, "out_for_delivery", "", "OFD", "Out for delivery", "Milano, IT")
    print("ready", flush=True)
    with tenant_scope(args.tenant):
        remaining = list(
            Shipment.objects.filter(
                pk__gte=args.first, pk__lte=args.last, status="in_transit"
            ).values_list("pk", flat=True)
        )
        for start in range(0, len(remaining), args.chunk):
            ids = remaining[start : start + args.chunk]
            record_events_batch(items=[(pk, [event]) for pk in ids])
            print(f"committed {len(ids)}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
