"""The analytics service:
Projections of every event, museum royalty dashboards and the operator overview."""
