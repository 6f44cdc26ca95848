"""EtcdPki of the etcd-recovery plugin package, bound by hand.

`pulumi package add` / `gen-sdk --language python` would generate this
class, but the Python language host that can be built here (sdk/v3 v3.68.0)
has no GeneratePackage. A remote ComponentResource is all such an SDK is:
the engine asks the plugin to construct it, and every output named in
`props` (set to None) comes back as an attribute.
"""
from typing import Any, Mapping, Optional, Sequence

import pulumi

OUTPUTS = ("caCertPem", "caKeyPem", "memberCertificates", "apiserverClient", "healthcheckClient", "adminClient", "cfsslFiles", "kubeadmFiles")


class EtcdPki(pulumi.ComponentResource):
    caCertPem: pulumi.Output[str]
    caKeyPem: pulumi.Output[str]
    memberCertificates: pulumi.Output[Mapping[str, Mapping[str, str]]]
    apiserverClient: pulumi.Output[Mapping[str, str]]

    def __init__(
        self,
        name: str,
        cluster_name: str,
        members: Sequence[Mapping[str, str]],
        key_algorithm: Optional[str] = None,
        extra_hosts: Optional[Sequence[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props: dict[str, Any] = {"clusterName": cluster_name, "members": list(members)}
        if key_algorithm is not None:
            props["keyAlgorithm"] = key_algorithm
        if extra_hosts is not None:
            props["extraHosts"] = list(extra_hosts)
        props.update({output: None for output in OUTPUTS})
        super().__init__("etcd-recovery:index:EtcdPki", name, props, opts, remote=True)
