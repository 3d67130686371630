"""Build a `Kube` connection: from a kubeconfig context, or from EKS (DescribeCluster + STS token).

Precedence: `--context` (or `cluster.context` in the spec) uses the kubeconfig; otherwise EKS through boto3
with `--cluster/--region` (or `cluster.name/region` from the spec). No aws CLI and no kubeconfig needed
for EKS. The kubeconfig is never written back (persist_config=False).
"""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration

from tritonobs.errors import UsageError
from tritonobs.kube.client import Kube
from tritonobs.model import Stack


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
        # An explicit --cluster means EKS even when the spec names a kubeconfig context.
        ctx = context if context is not None else (None if cluster else c.context)
        return cls(ctx, kubeconfig, cluster or c.name, region or c.region)


def connect(target: Target) -> Kube:
    if target.context is not None or target.kubeconfig is not None:
        return from_kubeconfig(target.context, target.kubeconfig)
    return from_eks(target.cluster, target.region)


def from_kubeconfig(context: str | None, kubeconfig: str | None = None) -> Kube:
    configuration = Configuration()
    try:
        kube_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
        )
    except kube_config.ConfigException as e:
        raise UsageError(f"kubeconfig: {str(e).splitlines()[0]}", file=kubeconfig or "~/.kube/config") from None
    except FileNotFoundError:
        raise UsageError("kubeconfig not found (pass --kubeconfig or set KUBECONFIG)", file=kubeconfig) from None
    return Kube(ApiClient(configuration), configuration.host)


def from_eks(cluster: str, region: str) -> Kube:
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
