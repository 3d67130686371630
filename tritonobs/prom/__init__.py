"""Talking to a Prometheus server: the HTTP API client (an edge module) and the live query checks."""

from tritonobs.prom.client import PrometheusClient, QueryError, RangeSeries, Sample

__all__ = ["PrometheusClient", "QueryError", "RangeSeries", "Sample"]
