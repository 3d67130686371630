"""Scaling verification: drive load, watch the HPA, pods, GPU nodes and metrics, judge against budgets.

`timeline` (typed samples and events), `budgets` (pass/fail, pure), `report` (md/json, pure + a small
writer), `plot` (the PNG); `cluster` watches a real cluster, `lab_run` drives the local lab.
"""
