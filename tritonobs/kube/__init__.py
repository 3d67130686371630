"""Kubernetes edge: connection, server-side apply with diff/prune/dry-run, preflight, HPA wait, status.

`kinds` is pure data (the RBAC renderer reads it); every other module talks to a cluster through
`client.Kube`, which maps every failure to a `tritonobs.core.errors` type.
"""
