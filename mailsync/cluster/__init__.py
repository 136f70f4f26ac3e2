"""Cluster mode: tickers queue mailbox syncs on procrastinate, workers anywhere run them.

- ``queue``: the procrastinate app, the per-mailbox locks, deferring a sync;
- ``tasks``: the jobs workers run (sync one mailbox, keep Graph subscriptions);
- ``ticker``: what every ``mailsync run`` node does in cluster mode;
- ``pg_budget``: Graph's per-mailbox limits and the tenant's sync cap, shared in PostgreSQL;
- ``figures``: queue depth, running and failed jobs, freshness (status and /metrics).
"""
