"""The outbox's and the digest's SQL (mixed into the Repository). Filled in by the notify refactor."""

from __future__ import annotations


class DeliveryMethods:
    """Repository methods for deliveries, digests, digest items and alerts."""
