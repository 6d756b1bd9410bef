"""Central: ingest (acknowledge after commit) -> store -> cases, API, dashboard.

Central knows storage and people, not devices: it sees only contract messages.
"""
