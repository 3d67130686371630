"""The local lab: real tritonserver replicas, a real Prometheus, the HPA engine in a loop."""
