"""The kernel's one domain signal.

``shipment_status_changed`` is sent after the transaction that recorded a status change commits,
with ``change_ids``: the ``ShipmentStatusChange`` rows written. Receivers only enqueue work; the
rows themselves are the durable record, so a receiver that never ran loses nothing (a relay sweeps
undispatched changes).
"""

from django.dispatch import Signal

shipment_status_changed = Signal()
