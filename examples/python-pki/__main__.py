import pulumi

from etcd_recovery_pki import EtcdPki

pki = EtcdPki(
    "pki",
    cluster_name="python",
    key_algorithm="ecdsa",
    members=[
        {"name": "etcd-1", "ip": "10.0.0.11"},
        {"name": "etcd-2", "ip": "10.0.0.12"},
        {"name": "etcd-3", "ip": "10.0.0.13"},
    ],
)

pulumi.export("caCertPem", pki.caCertPem)
pulumi.export("caKeyPem", pki.caKeyPem)
pulumi.export("apiserverClientCertPem", pki.apiserverClient.apply(lambda client: client["certPem"]))
pulumi.export("etcd1ServerCertPem", pki.memberCertificates.apply(lambda members: members["etcd-1"]["serverCertPem"]))
