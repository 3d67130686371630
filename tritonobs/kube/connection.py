"""Build a `Kube` connection: from a kubeconfig context, or from EKS (DescribeCluster + STS token).

Precedence: `--context` (or `cluster.context` in the spec) uses the kubeconfig; otherwise EKS through boto3
with `--cluster/--region` (or `cluster.name/region` from the spec). No aws CLI and no kubeconfig needed
for EKS. The kubeconfig is never written back (persist_config=False).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from tritonobs.core import yaml_bounded
from tritonobs.core.errors import UsageError
from tritonobs.core.inputs import YAML_LIMIT, aws_region, eks_cluster, http_url_problem, read_text
from tritonobs.core.model import Stack
from tritonobs.core.spec_loader import line_of
from tritonobs.kube.client import Kube


@dataclass(frozen=True)
class Target:
    """Which cluster to talk to, after CLI overrides are applied to the spec."""

    context: str | None
    kubeconfig: str | None
    cluster: str
    region: str

    @classmethod
    def of(
        cls,
        stack: Stack,
        *,
        context: str | None = None,
        kubeconfig: str | None = None,
        cluster: str | None = None,
        region: str | None = None,
    ) -> Target:
        c = stack.spec.cluster
        if cluster is not None:
            eks_cluster("--cluster", cluster)
        if region is not None:
            aws_region("--region", region)
        if kubeconfig is not None:
            check_kubeconfig(kubeconfig)
        # An explicit --cluster means EKS even when the spec names a kubeconfig context.
        ctx = context if context is not None else (None if cluster else c.context)
        return cls(ctx, kubeconfig, cluster or c.name, region or c.region)


def connect(target: Target) -> Kube:
    if target.context is not None or target.kubeconfig is not None:
        return from_kubeconfig(target.context, target.kubeconfig)
    return from_eks(target.cluster, target.region)


def check_kubeconfig(path: str) -> None:
    """A kubeconfig file read bounded, as the spec is (size, UTF-8, YAML aliases and depth), before the
    kubernetes client reads it with plain PyYAML."""
    text = read_text(path, what="kubeconfig", limit=YAML_LIMIT, hint=" (pass --kubeconfig FILE or set KUBECONFIG)")
    root, data = yaml_bounded.load(text, path)
    if not isinstance(data, dict):
        raise UsageError("not a kubeconfig (expected a mapping with clusters, contexts and users)", file=path, line=1)
    clusters = data.get("clusters")
    for i, entry in enumerate(clusters if isinstance(clusters, list) else []):
        cluster = entry.get("cluster") if isinstance(entry, dict) else None
        server = cluster.get("server") if isinstance(cluster, dict) else None
        if isinstance(server, str) and http_url_problem(server):
            loc = ("clusters", i, "cluster", "server")
            raise UsageError(f"clusters[{i}].cluster.server: not an https URL (got {server!r}): write e.g. "
                             "https://203.0.113.10:6443", file=path, line=line_of(root, loc))


def _default_kubeconfigs() -> list[str]:
    env = os.environ.get("KUBECONFIG")
    paths = [p for p in env.split(os.pathsep) if p] if env else [os.path.expanduser("~/.kube/config")]
    return [p for p in paths if os.path.lexists(p)]


def from_kubeconfig(context: str | None, kubeconfig: str | None = None) -> Kube:
    for path in [kubeconfig] if kubeconfig is not None else _default_kubeconfigs():
        check_kubeconfig(path)
    configuration = Configuration()
    try:
        kube_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
        )
    except kube_config.ConfigException as e:
        raise UsageError(f"kubeconfig: {str(e).splitlines()[0]}", file=kubeconfig or "~/.kube/config") from None
    except FileNotFoundError:
        raise UsageError("kubeconfig not found (pass --kubeconfig or set KUBECONFIG)", file=kubeconfig) from None
    except (TypeError, KeyError, AttributeError, ValueError) as e:  # well-formed YAML, not a kubeconfig
        raise UsageError(f"not a valid kubeconfig ({type(e).__name__}: {str(e)[:200]})",
                         file=kubeconfig or "~/.kube/config") from None
    return Kube(ApiClient(configuration), configuration.host)


def from_eks(cluster: str, region: str) -> Kube:
    # lazily: boto3 costs ~0.3 s at start-up and only EKS clusters need it.
    from tritonobs.aws import eks
    from tritonobs.aws.session import session

    sess = session(region)
    access = eks.describe_cluster(sess, cluster, region)
    configuration = Configuration(host=access.endpoint, ca_cert_data=access.ca)
    configuration.verify_ssl = True
    tokens = eks.token_source(sess, cluster, region)
    configuration.refresh_api_key_hook = tokens.hook  # type: ignore[assignment]  # stub types it as None
    tokens.hook(configuration)  # mint now: a credentials problem shows before any cluster call
    return Kube(ApiClient(configuration), access.endpoint)
