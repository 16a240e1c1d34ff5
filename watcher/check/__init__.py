"""Checking policies: `decide` (pure: what a fetch means) and `checker` (check_one, check_many)."""

from watcher.check.checker import (
           BATCH_ROWS,
           BATCH_SECONDS,
           BATCH_VERSIONS,
           POOL_MIN_BODIES,
           Checker,
           select_policies,
)
from watcher.check.decide import CheckOutcome, Decision, Previous, decide, triage

__all__ = ["BATCH_ROWS", "BATCH_SECONDS", "BATCH_VERSIONS", "POOL_MIN_BODIES", "CheckOutcome", "Checker", "Decision",
           "Previous", "decide", "select_policies", "triage"]
