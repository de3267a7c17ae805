"""The SLA watcher `serve` runs (with the router): see adapters.router."""

from adapters.router import check_sla, route_pending, run_sla_watcher

__all__ = ["check_sla", "route_pending", "run_sla_watcher"]
