"""tritonobs: observability and autoscaling for NVIDIA Triton + vLLM on Kubernetes."""

__version__ = "0.1.0"
