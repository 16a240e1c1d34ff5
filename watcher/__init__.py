"""policy-watcher: watch privacy policies, diff them clause by clause, judge and route the changes."""

__version__ = "0.1.0"
