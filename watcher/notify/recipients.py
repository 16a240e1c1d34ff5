"""Who is told.

  staff = [notify] staff + the policy's own staff (in notify.language);
  users = the policy's `users` + its `users_file` rows (each in their own language).
Routing (shared/TAXONOMY.md §Routing; the verdict is the report's `notify` block): users are
mailed when `notify_users` is "auto" and the report says so (the old revision clause promises
it), always for a material change when it is "always", never when "never"; staff for every
change of severity minor or more.
"""

from __future__ import annotations

from watcher.addresses import parse_address
from watcher.config import User
from watcher.errors import ConfigError
from watcher.notify import compose


def recipient_key(email: str) -> str:
    """Who an address is: 'Legal <LEGAL@x.org>' and 'legal@x.org' are one recipient."""
    try:
        return parse_address(email, "recipient").addr_spec.lower()
    except ConfigError:
        return email.strip().lower()    # kept: its delivery is recorded as invalid


def _unique(users) -> list[User]:
    """One mail per address: 'Legal <LEGAL@x.org>' and 'legal@x.org' are one recipient."""
    seen, out = set(), []
    for user in users:
        key = recipient_key(user.email)
        if key not in seen:
            seen.add(key)
            out.append(user)
    return out


def staff_recipients(settings, policy=None) -> list[User]:
    """[notify] staff + the policy's own staff, all in notify.language."""
    emails = list(settings.notify.staff) + (list(getattr(policy, "staff", []) or []) if policy else [])
    return _unique(User(e, settings.notify.language) for e in emails)


def user_recipients(policy) -> list[User]:
    """The policy's users with their languages (config.PolicySettings.recipients: users_file rows carry theirs)."""
    return _unique(policy.recipients()) if policy is not None else []


def users_wanted(policy, report: dict) -> bool:
    """The per-policy override of the routing verdict: auto | always | never."""
    if policy is None:
        return False
    mode = getattr(policy, "notify_users", "auto") or "auto"
    if mode == "never":
        return False
    if mode == "always":
        return compose.is_material(report.get("severity"))
    return bool((report.get("notify") or {}).get("users"))


def configured_policy(settings, name: str | None):
    """The policy's settings, or None when the config no longer has it."""
    return settings.policy(name) if name and settings.has_policy(name) else None


def policy_view(policy, fallback_name: str = "", fallback_url: str = "") -> dict:
    return {"name": getattr(policy, "name", None) or fallback_name,
            "url": compose.safe_url(getattr(policy, "url", None) or fallback_url)}


def snapshot_ref(name: str, change_id: int, old_version: int | None, new_version: int | None) -> dict:
    """Commands that show the stored versions behind a change."""
    if old_version is None or new_version is None:
        return {"change_id": change_id}
    return {"change_id": change_id,
            "show": f"watch show {name}@{new_version}",
            "diff": f"watch diff {name}@{old_version} {name}@{new_version}"}
