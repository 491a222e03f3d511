"""Metrics, logs, health and traces: what an operator watches (README, "Operating it")."""
