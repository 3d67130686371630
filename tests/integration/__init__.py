"""Integration tests: real tritonserver, Prometheus and vLLM processes."""
