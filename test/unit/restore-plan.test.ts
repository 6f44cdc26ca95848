// The restore runbook as data: step graph per preset and per path, the exact
// restore flags, and validation errors that name argument, value and fix.
import { LAYOUT_PRESETS } from "../../src/restore/layouts";
import { ControlPlaneRestoreInput, planControlPlaneRestore, renderDryRun, supportsBumpRevision } from "../../src/restore/plan";
import { ancestors, expectInputError, ids, step } from "../support/restore-steps";

const SHA = "0123456789abcdef".repeat(4);

function input(overrides: Partial<ControlPlaneRestoreInput> = {}): ControlPlaneRestoreInput {
    return {
        nodes: [1, 2, 3].map((i) => ({ name: `cp-${i}`, address: `10.0.0.${10 + i}`, role: "both" as const })),
        layout: "kubeadm",
        snapshot: { path: "/root/etcd-snapshot.db", sha256: SHA },
        etcdVersion: "3.5.21",
        ...overrides,
    };
}

describe("all-members path (seed 001)", () => {
    const plan = planControlPlaneRestore(input());

    test("the order: preflight → stop control plane → stop etcd → move aside → restore → ownership → start → health → start control plane → restart → report", () => {
        expect(ids(plan.steps)).toEqual([
            "preflight-cp-1",
            "preflight-cp-2",
            "preflight-cp-3",
            "stop-control-plane-cp-1",
            "stop-control-plane-cp-2",
            "stop-control-plane-cp-3",
            "stop-etcd-cp-1",
            "stop-etcd-cp-2",
            "stop-etcd-cp-3",
            "move-data-cp-1",
            "restore-cp-1",
            "ownership-cp-1",
            "move-data-cp-2",
            "restore-cp-2",
            "ownership-cp-2",
            "move-data-cp-3",
            "restore-cp-3",
            "ownership-cp-3",
            "start-etcd-cp-1",
            "start-etcd-cp-2",
            "start-etcd-cp-3",
            "wait-healthy",
            "start-control-plane-cp-1",
            "start-control-plane-cp-2",
            "start-control-plane-cp-3",
            "restart-components-cp-1",
            "restart-components-cp-2",
            "restart-components-cp-3",
            "report",
        ]);
    });

    test("nothing that changes a node runs before every node passed preflight", () => {
        const preflights = ["preflight-cp-1", "preflight-cp-2", "preflight-cp-3"];
        for (const s of plan.steps.filter((s) => !s.readOnly)) {
            const before = ancestors(plan.steps, s.id);
            for (const p of preflights) expect({ step: s.id, after: before.has(p) }).toEqual({ step: s.id, after: true });
        }
        expect(plan.steps.filter((s) => s.readOnly).map((s) => s.id)).toEqual([...preflights, "wait-healthy", "report"]);
    });

    test("every etcd is stopped after every apiserver, and data moves only once every etcd is stopped", () => {
        for (const n of [1, 2, 3]) {
            const stopEtcd = ancestors(plan.steps, `stop-etcd-cp-${n}`);
            for (const m of [1, 2, 3]) expect(stopEtcd.has(`stop-control-plane-cp-${m}`)).toBe(true);
            const move = ancestors(plan.steps, `move-data-cp-${n}`);
            for (const m of [1, 2, 3]) expect(move.has(`stop-etcd-cp-${m}`)).toBe(true);
            expect(ancestors(plan.steps, `start-control-plane-cp-${n}`).has("wait-healthy")).toBe(true);
        }
    });

    test("each member restores with its own name and peer URL, the full initial cluster, a fresh token and the revision bump", () => {
        const restore = step(plan.steps, "restore-cp-2").commands.find((c) => c.includes("snapshot restore"))!;
        expect(restore).toBe(
            "/usr/local/bin/etcdutl snapshot restore /root/etcd-snapshot.db --name=cp-2 " +
                "--initial-cluster=cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380 " +
                `--initial-cluster-token=etcd-restore-${SHA.slice(0, 12)} --initial-advertise-peer-urls=https://10.0.0.12:2380 ` +
                "--data-dir=/var/lib/etcd.restoring --bump-revision=1000000000 --mark-compacted",
        );
    });

    test("the old data directory is moved aside with a timestamp, never deleted", () => {
        // The only removal in the whole runbook: preflight's own scratch dir.
        const removals = plan.steps.flatMap((s) => s.commands.flatMap((c) => c.match(/\brm -[a-z]*r[a-z]* [^;]*/g) ?? []));
        expect(new Set(removals)).toEqual(new Set(['rm -rf "$scratch"']));
        const move = step(plan.steps, "move-data-cp-1").commands.join("\n");
        expect(move).toContain("stamp=$(date -u +%Y%m%dT%H%M%SZ)");
        expect(move).toContain("mv /var/lib/etcd /var/lib/etcd.before-restore-$stamp");
        expect(step(plan.steps, "restore-cp-1").commands[0]).toContain("refusing to overwrite");
    });

    test("preflight checks the snapshot's sha256 and status, the etcd version and disk space, and changes nothing", () => {
        const preflight = step(plan.steps, "preflight-cp-3").commands.join("\n");
        expect(preflight).toContain(`echo "${SHA}  /root/etcd-snapshot.db" | sha256sum -c -`);
        expect(preflight).toContain("if ! status=$(/usr/local/bin/etcdutl snapshot status /root/etcd-snapshot.db -w table 2>&1); then");
        expect(preflight).toContain('if [ "$have" != "3.5.21" ]');
        expect(preflight).toContain("df -Pk /var/lib");
        expect(preflight).toContain("scratch=$(mktemp -d /var/lib/etcd-recovery-preflight.XXXXXX)");
        expect(preflight).toContain('/usr/local/bin/etcdutl snapshot restore /root/etcd-snapshot.db --data-dir="$scratch/data" 2>&1');
        expect(preflight).not.toMatch(/\b(mv|chown|chmod|systemctl|mkdir)\b/);
    });

    test("kubeadm stops static pods by moving manifests aside and waits for the processes to end", () => {
        expect(step(plan.steps, "stop-etcd-cp-1").commands.join("\n")).toContain(
            "mv /etc/kubernetes/manifests/$m /etc/kubernetes/manifests.stopped-by-etcd-recovery/$m",
        );
        expect(step(plan.steps, "stop-etcd-cp-1").commands.join("\n")).toContain("pgrep -x etcd");
        expect(step(plan.steps, "stop-control-plane-cp-1").commands.join("\n")).toContain(
            "kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml",
        );
        expect(step(plan.steps, "restart-components-cp-1").commands).toEqual(["systemctl restart kubelet"]);
    });

    test("the dry run lists every step's exact commands per node, and who runs after whom", () => {
        const text = renderDryRun(plan);
        for (const s of plan.steps) {
            expect(text).toContain(`${s.id} @ ${s.node}`);
            // A block of several lines keeps them together, continuation lines indented under the "$".
            for (const c of s.commands) expect(text).toContain(`    $ ${c.split("\n").join("\n      ")}`);
        }
        expect(text).toContain("node cp-1: root@10.0.0.11:22 (both, member cp-1)");
        expect(text).toContain("cp-1: preflight-cp-1 → stop-control-plane-cp-1 → stop-etcd-cp-1 → move-data-cp-1 → restore-cp-1");
    });
});

describe("presets", () => {
    test("kubespray: systemd unit, etcd user, admin-<node> certificates in /etc/ssl/etcd/ssl", () => {
        const plan = planControlPlaneRestore(input({ layout: "kubespray" }));
        expect(step(plan.steps, "stop-etcd-cp-1").commands[0]).toBe("systemctl stop etcd");
        expect(step(plan.steps, "start-etcd-cp-1").commands).toEqual(["systemctl start etcd"]);
        expect(step(plan.steps, "ownership-cp-1").commands[0]).toBe("chown -R etcd:etcd /var/lib/etcd");
        expect(step(plan.steps, "wait-healthy").commands.join("\n")).toContain(
            "/usr/local/bin/etcdctl --cacert=/etc/ssl/etcd/ssl/ca.pem --cert=/etc/ssl/etcd/ssl/admin-cp-1.pem --key=/etc/ssl/etcd/ssl/admin-cp-1-key.pem",
        );
    });

    test("rke: docker containers; etcdutl from the etcd container's image with the snapshot and data dirs mounted", () => {
        const plan = planControlPlaneRestore(input({ layout: "rke", snapshot: { path: "/opt/rke/etcd-snapshots/s.db", sha256: SHA } }));
        expect(step(plan.steps, "stop-etcd-cp-1").commands).toEqual(["docker stop etcd"]);
        expect(step(plan.steps, "stop-control-plane-cp-1").commands).toEqual([
            "docker stop kube-apiserver kube-controller-manager kube-scheduler",
        ]);
        expect(step(plan.steps, "restore-cp-1").commands.join("\n")).toContain(
            "docker run --rm --net=none --entrypoint etcdutl -v /opt/rke/etcd-snapshots:/opt/rke/etcd-snapshots:ro -v /var/lib:/var/lib \"$(docker inspect --format '{{.Config.Image}}' etcd)\" snapshot restore /opt/rke/etcd-snapshots/s.db",
        );
        expect(step(plan.steps, "wait-healthy").commands.join("\n")).toContain("docker exec etcd etcdctl --endpoints=");
    });

    test("every field is overridable; placeholders are filled per node", () => {
        const plan = planControlPlaneRestore(
            input({
                layout: "kubespray",
                layoutOverrides: { dataDir: "/data/etcd", stopEtcd: ["svc stop etcd-{memberName} on {address}"] },
            }),
        );
        expect(step(plan.steps, "stop-etcd-cp-2").commands).toEqual(["svc stop etcd-cp-2 on 10.0.0.12"]);
        expect(step(plan.steps, "move-data-cp-2").commands.join("\n")).toContain("mv /data/etcd /data/etcd.before-restore-$stamp");
        expect(step(plan.steps, "preflight-cp-2").commands.join("\n")).toContain("df -Pk /data");
    });

    test("every preset defines every layout field", () => {
        const fields = Object.keys(LAYOUT_PRESETS.kubeadm).sort();
        for (const preset of Object.values(LAYOUT_PRESETS)) expect(Object.keys(preset).sort()).toEqual(fields);
    });
});

describe("broken nodes and roles", () => {
    test("a broken node gets no step and leaves the etcd cluster; control-plane-only nodes have no etcd steps", () => {
        const plan = planControlPlaneRestore(
            input({
                nodes: [
                    { name: "etcd-1", address: "10.0.0.21", role: "etcd" },
                    { name: "etcd-2", address: "10.0.0.22", role: "etcd", broken: true },
                    { name: "etcd-3", address: "10.0.0.23", role: "etcd" },
                    { name: "etcd-4", address: "10.0.0.24", role: "etcd" },
                    { name: "api-1", address: "10.0.0.31", role: "control-plane" },
                ],
            }),
        );
        expect(plan.steps.some((s) => s.node === "etcd-2")).toBe(false);
        expect(plan.initialCluster).toBe("etcd-1=https://10.0.0.21:2380,etcd-3=https://10.0.0.23:2380,etcd-4=https://10.0.0.24:2380");
        expect(ids(plan.steps.filter((s) => s.node === "api-1"))).toEqual([
            "preflight-api-1",
            "stop-control-plane-api-1",
            "start-control-plane-api-1",
            "restart-components-api-1",
        ]);
        expect(ids(plan.steps.filter((s) => s.node === "etcd-1"))).toEqual([
            "preflight-etcd-1",
            "stop-etcd-etcd-1",
            "move-data-etcd-1",
            "restore-etcd-1",
            "ownership-etcd-1",
            "start-etcd-etcd-1",
            "wait-healthy",
            "report",
        ]);
        expect(step(plan.steps, "preflight-api-1").commands.join("\n")).not.toContain("snapshot");
        expect(renderDryRun(plan)).toContain("node etcd-2: root@10.0.0.22:22 (etcd) — BROKEN: skipped, left out of the cluster");
    });
});

describe("quorum-lost path (seeds 002, 003)", () => {
    const plan = planControlPlaneRestore(input({ mode: "quorum-lost", layout: "kubespray" }));

    test("the seed member is restored alone, then the others are added and started one by one", () => {
        expect(ids(plan.steps)).toEqual([
            "preflight-cp-1",
            "preflight-cp-2",
            "preflight-cp-3",
            "stop-control-plane-cp-1",
            "stop-control-plane-cp-2",
            "stop-control-plane-cp-3",
            "stop-etcd-cp-1",
            "stop-etcd-cp-2",
            "stop-etcd-cp-3",
            "move-data-cp-1",
            "move-data-cp-2",
            "move-data-cp-3",
            "restore-cp-1",
            "ownership-cp-1",
            "start-etcd-cp-1",
            "wait-healthy-cp-1",
            "member-add-cp-2",
            "join-cp-2",
            "wait-healthy-cp-2",
            "member-add-cp-3",
            "join-cp-3",
            "wait-healthy-cp-3",
            "start-control-plane-cp-1",
            "start-control-plane-cp-2",
            "start-control-plane-cp-3",
            "restart-components-cp-1",
            "restart-components-cp-2",
            "restart-components-cp-3",
            "report",
        ]);
        expect(step(plan.steps, "restore-cp-1").commands.join("\n")).toContain("--initial-cluster=cp-1=https://10.0.0.11:2380 ");
        expect(ancestors(plan.steps, "member-add-cp-3").has("wait-healthy-cp-2")).toBe(true);
        expect(step(plan.steps, "member-add-cp-2").node).toBe("cp-1");
        expect(step(plan.steps, "member-add-cp-2").commands[1]).toContain("member add cp-2 --peer-urls=https://10.0.0.12:2380; do");
    });

    test("joiners start with an empty data dir and initial-cluster-state existing, with the members so far", () => {
        const join = step(plan.steps, "join-cp-3").commands.join("\n");
        expect(join).toContain("ETCD_INITIAL_CLUSTER=cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380|");
        expect(join).toContain("ETCD_INITIAL_CLUSTER_STATE=existing");
        expect(join).not.toContain("snapshot restore");
        // Only the seed needs the snapshot.
        expect(step(plan.steps, "preflight-cp-1").commands.join("\n")).toContain("sha256sum -c");
        expect(step(plan.steps, "preflight-cp-2").commands.join("\n")).not.toContain("sha256sum -c");
    });

    test("kubeadm rewrites the stopped etcd manifest", () => {
        const kubeadm = planControlPlaneRestore(input({ mode: "quorum-lost" }));
        expect(step(kubeadm.steps, "join-cp-2").commands.join("\n")).toContain(
            "--initial-cluster=cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380\\n\\1- --initial-cluster-state=existing|' /etc/kubernetes/manifests.stopped-by-etcd-recovery/etcd.yaml",
        );
    });
});

describe("versions", () => {
    test("--bump-revision/--mark-compacted only where etcdutl has them (3.5.10+)", () => {
        expect([
            supportsBumpRevision("3.5.9"),
            supportsBumpRevision("3.5.10"),
            supportsBumpRevision("v3.6.0"),
            supportsBumpRevision("3.4.30"),
        ]).toEqual([false, true, true, false]);
        const old = planControlPlaneRestore(input({ etcdVersion: "3.5.9" }));
        expect(old.bumpRevision).toBe(0);
        expect(step(old.steps, "restore-cp-1").commands.join("\n")).not.toContain("--bump-revision");
        expectInputError(
            () => planControlPlaneRestore(input({ etcdVersion: "3.5.9", bumpRevision: 5 })),
            "bumpRevision",
            /added in 3\.5\.10/,
        );
        expect(planControlPlaneRestore(input({ bumpRevision: 0 })).steps.some((s) => s.commands.join().includes("--bump-revision"))).toBe(
            false,
        );
    });

    test("etcd 3.4 restores with etcdctl", () => {
        const plan = planControlPlaneRestore(input({ etcdVersion: "3.4.23" }));
        expect(plan.restoreTool).toBe("etcdctl");
        expect(step(plan.steps, "restore-cp-1").commands.join("\n")).toContain("ETCDCTL_API=3 /usr/local/bin/etcdctl --cacert=");
    });
});

describe("validation names argument, value and fix", () => {
    test.each([
        [
            "an even member count",
            { nodes: [1, 2].map((i) => ({ name: `n${i}`, address: `10.0.0.${i}`, role: "etcd" as const })) },
            "nodes (etcd members that are not broken)",
            /tolerate/,
        ],
        [
            "duplicate addresses",
            {
                nodes: [
                    { name: "a", address: "10.0.0.1", role: "both" as const },
                    { name: "b", address: "10.0.0.1", role: "both" as const },
                    { name: "c", address: "10.0.0.3", role: "both" as const },
                ],
            },
            "nodes[1].address",
            /already has this address/,
        ],
        [
            "duplicate names",
            {
                nodes: [
                    { name: "a", address: "10.0.0.1", role: "both" as const },
                    { name: "a", address: "10.0.0.2", role: "both" as const },
                ],
            },
            "nodes[1].name",
            /same name/,
        ],
        [
            "duplicate member names",
            {
                nodes: [
                    { name: "a", address: "10.0.0.1", role: "etcd" as const, etcdMemberName: "m" },
                    { name: "b", address: "10.0.0.2", role: "etcd" as const, etcdMemberName: "m" },
                    { name: "c", address: "10.0.0.3", role: "etcd" as const },
                ],
            },
            "nodes[1].etcdMemberName",
            /unique/,
        ],
        [
            "a member name on a control-plane-only node",
            {
                nodes: [
                    { name: "a", address: "10.0.0.1", role: "control-plane" as const, etcdMemberName: "m" },
                    { name: "b", address: "10.0.0.2", role: "etcd" as const },
                ],
            },
            "nodes[0].etcdMemberName",
            /only etcd nodes/,
        ],
        [
            "no etcd node left",
            {
                nodes: [
                    { name: "a", address: "10.0.0.1", role: "etcd" as const, broken: true },
                    { name: "b", address: "10.0.0.2", role: "control-plane" as const },
                ],
            },
            "nodes",
            /at least one reachable node/,
        ],
        ["a bad address", { nodes: [{ name: "a", address: "10.0.0", role: "both" as const }] }, "nodes[0].address", /IPv4/],
        [
            "a bad role",
            { nodes: [{ name: "a", address: "10.0.0.1", role: "master" as never }] },
            "nodes[0].role",
            /"etcd", "control-plane" or "both"/,
        ],
        ["a bad sha256", { snapshot: { path: "/root/s.db", sha256: "abc" } }, "snapshot.sha256", /64 lower-case hex/],
        ["a relative snapshot path", { snapshot: { path: "s.db", sha256: SHA } }, "snapshot.path", /absolute path/],
        ["a snapshot path with a quote", { snapshot: { path: "/root/it's.db", sha256: SHA } }, "snapshot.path", /without quotes/],
        // One path rule for every runbook (validate.ts): what goes unquoted into a shell line.
        [
            "a snapshot path with a space",
            { snapshot: { path: "/root/my snapshot.db", sha256: SHA } },
            "snapshot.path",
            /letters, digits and _ \. \/ @ \+ - only/,
        ],
        [
            "a data dir with a ';'",
            { layoutOverrides: { dataDir: "/var/lib/etcd;reboot" } },
            "layoutOverrides.dataDir",
            /without quotes, spaces/,
        ],
        ["a data dir with a trailing '/'", { layoutOverrides: { dataDir: "/var/lib/etcd/" } }, "layoutOverrides.dataDir", /trailing '\/'/],
        [
            "an SSH port out of range",
            { nodes: [{ name: "a", address: "10.0.0.1", role: "both" as const, ssh: { port: 70000 } }] },
            "nodes[0].ssh.port",
            /TCP port/,
        ],
        [
            "a bad SSH user",
            { nodes: [{ name: "a", address: "10.0.0.1", role: "both" as const, ssh: { user: "ro ot" } }] },
            "nodes[0].ssh.user",
            /login name/,
        ],
        ["an unknown layout", { layout: "k3s" as never }, "layout", /kubeadm, kubespray, rke/],
        [
            "an unknown override",
            { layoutOverrides: { dataDirectory: "/x" } as never },
            "layoutOverrides.dataDirectory",
            /not a layout field/,
        ],
        [
            "an unknown placeholder",
            { layoutOverrides: { startEtcd: ["start {host}"] } },
            "layoutOverrides.startEtcd[0]",
            /unknown placeholder \{host\}/,
        ],
        ["a bad owner", { layoutOverrides: { dataDirOwner: "etcd etcd" } }, "layoutOverrides.dataDirOwner", /user:group/],
        ["a bad version", { etcdVersion: "latest" }, "etcdVersion", /major\.minor\.patch/],
        ["a bad mode", { mode: "force" as never }, "mode", /quorum-lost/],
        ["a bad token", { initialClusterToken: "a b" }, "initialClusterToken", /letters, digits/],
    ])("%s", (_what, overrides, argument, fix) => {
        expectInputError(() => planControlPlaneRestore(input(overrides as Partial<ControlPlaneRestoreInput>)), argument, fix);
    });

    test("an even member count is allowed when asked for", () => {
        const nodes = [1, 2].map((i) => ({ name: `n${i}`, address: `10.0.0.${i}`, role: "etcd" as const }));
        expect(planControlPlaneRestore(input({ nodes, allowEvenSize: true })).members).toHaveLength(2);
    });
});
