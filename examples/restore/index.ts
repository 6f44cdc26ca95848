// A kubespray cluster: three control-plane nodes that also run etcd.
//
//   pulumi config set snapshotSha256 $(sha256sum etcd-snapshot.db | cut -d' ' -f1)
//   pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519
//   pulumi preview                        # every step on every node, nothing runs
//   pulumi stack output dryRun            # (after up) the exact commands per node
//   pulumi up                             # runs them; a failed step stops the run, `pulumi up` resumes
import * as pulumi from "@pulumi/pulumi";
// Until src/index.ts exports it, import the module directly.
import { ControlPlaneRestore } from "../../src";

const config = new pulumi.Config();
const privateKey = config.requireSecret("sshPrivateKey");

// Pin each node's host key (ssh-keyscan -t ed25519 <address>), so the runbook talks to your nodes only.
const nodes = [
    { name: "taco-m1", address: "10.20.0.11", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithTacoM1HostKey" },
    { name: "taco-m2", address: "10.20.0.12", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithTacoM2HostKey" },
    { name: "taco-m3", address: "10.20.0.13", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIReplaceWithTacoM3HostKey" },
];

const restore = new ControlPlaneRestore("restore", {
    layout: "kubespray",
    mode: (config.get("mode") ?? "all-members") as "all-members" | "quorum-lost",
    nodes: nodes.map((node, i) => ({
        name: node.name,
        address: node.address,
        role: "both" as const,
        // kubespray names members etcd1, etcd2, … unless etcd_member_name is set.
        etcdMemberName: `etcd${i + 1}`,
        ssh: { user: "root", privateKey, hostKey: node.hostKey },
    })),
    snapshot: { path: "/root/etcd-snapshot.db", sha256: config.require("snapshotSha256") },
    etcdVersion: "3.5.21",
});

export const dryRun = restore.dryRun;
export const report = restore.report;
