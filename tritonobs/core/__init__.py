"""The pure core: spec loading, the resolved model, catalogue, PromQL, signals, renderers, checks.

Nothing here imports the edges (cli, kube, aws, prom, lab, load, verify, models); `make lint` enforces it.
"""
