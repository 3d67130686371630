"""Alert and recording rules. (stub)"""

from __future__ import annotations

from typing import Any

from tritonobs.model import Stack
from tritonobs.render import Artifact, KubeObject


def rule_groups(stack: Stack) -> dict[str, Any]:
    """{"groups": [{"name": ..., "rules": [{"record"|"alert": ..., "expr": ...}, ...]}]}"""
    return {"groups": []}


def render(stack: Stack) -> list[Artifact]:
    return []


def objects(stack: Stack) -> list[KubeObject]:
    return []
