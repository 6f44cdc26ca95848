/**
 * What a kube-apiserver needs to use an external etcd cluster: the flags of
 * the manual move from stacked to external etcd and kubeadm's `etcd.external` block.
 */

/** Where kubeadm keeps the files these flags point at. */
export const KUBEADM_ETCD_CLIENT_PATHS = {
    caFile: "/etc/kubernetes/pki/etcd/ca.crt",
    certFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt",
    keyFile: "/etc/kubernetes/pki/apiserver-etcd-client.key",
} as const;

export interface EtcdClientPaths {
    caFile: string;
    certFile: string;
    keyFile: string;
}

export function kubeApiserverEtcdFlags(endpoints: string[], paths: EtcdClientPaths = KUBEADM_ETCD_CLIENT_PATHS): string[] {
    return [
        `--etcd-servers=${endpoints.join(",")}`,
        `--etcd-cafile=${paths.caFile}`,
        `--etcd-certfile=${paths.certFile}`,
        `--etcd-keyfile=${paths.keyFile}`,
    ];
}

/** The `etcd:` section of a kubeadm ClusterConfiguration (v1beta3 and v1beta4), ready to paste. */
export function kubeadmExternalEtcdYaml(endpoints: string[], paths: EtcdClientPaths = KUBEADM_ETCD_CLIENT_PATHS): string {
    return [
        "etcd:",
        "  external:",
        "    endpoints:",
        ...endpoints.map((e) => `    - ${e}`),
        `    caFile: ${paths.caFile}`,
        `    certFile: ${paths.certFile}`,
        `    keyFile: ${paths.keyFile}`,
        "",
    ].join("\n");
}
