"""Review states, decisions and the actions of a change's checklist.

    new  --(any step)-->  in_review  --(a decision)-->  done  --(reopen)-->  in_review

The checklist of a change is the routing's `notify.actions` (watcher/rules/routing.toml), in that
order; a reviewer may also record one of the other known actions (it joins the checklist).
"""

from __future__ import annotations

from watcher.store.reviews import REVIEWED_SEVERITIES

STATES = ("new", "in_review", "done")
OPEN_STATES = ("new", "in_review")

# decision -> the checklist action it presupposes (when that action is on the checklist)
DECISIONS = {
    "not_material": None,        # on reflection the change needs nothing
    "notice_sent": "notify_users",
    "consent_obtained": "obtain_consent",
    "no_action": None,           # material, but nothing is to be done (e.g. done by another process)
}

ACTIONS = ("obtain_consent", "notify_users", "publish", "file_with_ppc", "legal_review")

# Who may do what in the web view (the CLI is the reviewer's own account on the machine).
ROLES = ("viewer", "reviewer")

__all__ = ["ACTIONS", "DECISIONS", "OPEN_STATES", "REVIEWED_SEVERITIES", "ROLES", "STATES", "checklist"]


def checklist(report: dict | None) -> list[str]:
    """The actions a change calls for, from its report's routing."""
    return list(dict.fromkeys(((report or {}).get("notify") or {}).get("actions") or []))
