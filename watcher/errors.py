"""Errors a user can act on. The CLI prints `str(error)` as one line and exits 2."""


class WatchError(Exception):
    """Base class: a clear, one-line message for the user."""


class InputError(WatchError):
    """A file or page that cannot be read as a policy (missing, binary, empty, undecodable, no text)."""


class ConfigError(WatchError):
    """A mistake in config.toml; the message names the key."""


class FetchError(WatchError):
    """A page that could not be fetched, or is not a version of the policy (login page, 500, ...)."""
