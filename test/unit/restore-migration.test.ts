// Seed 004 as data: stacked kubeadm etcd → external EtcdCluster. Step order per
// stage, the commands, the manifest rewrite run for real with sh/sed on seed
// 004's manifest (twice: idempotent), nothing secret in any command, and
// validation errors that name argument, value and fix.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { STOPPED_MANIFESTS_DIR } from "../../src/restore/layouts";
import {
    etcdFlagsSedProgram,
    planStackedToExternalMigration,
    renderMigrationDryRun,
    StackedToExternalMigrationInput,
} from "../../src/restore/migration";
import { RestoreStep } from "../../src/restore/plan";
import { ancestors, expectInputError, ids, step } from "../support/restore-steps";

const SHA = "89abcdef01234567".repeat(4);
const EXTERNAL = ["https://32.16.5.31:2379", "https://32.16.5.32:2379", "https://32.16.5.33:2379"];

function input(overrides: Partial<StackedToExternalMigrationInput> = {}): StackedToExternalMigrationInput {
    return {
        stage: "switch",
        seededSnapshotSha256: SHA,
        nodes: [1, 2, 3].map((i) => ({ name: `master0${i}`, address: `32.16.5.2${i}` })),
        layout: "kubeadm",
        externalEndpoints: EXTERNAL,
        clientFiles: {
            caCert: { stagedPath: "/root/etcd-external/ca.pem", from: "EtcdCluster ext: caCertPem" },
            cert: { stagedPath: "/root/etcd-external/apiserver.pem", from: "EtcdCluster ext: pki.apiserverClient.certPem" },
            key: { stagedPath: "/root/etcd-external/apiserver-key.pem", from: "EtcdCluster ext: pki.apiserverClient.keyPem" },
        },
        ...overrides,
    };
}

describe('stage "snapshot"', () => {
    const plan = planStackedToExternalMigration(input({ stage: "snapshot", seededSnapshotSha256: undefined }));

    test("order: preflight everywhere → stop every control plane → snapshot → hand-off", () => {
        expect(ids(plan.steps)).toEqual([
            "preflight-master01",
            "preflight-master02",
            "preflight-master03",
            "stop-control-plane-master01",
            "stop-control-plane-master02",
            "stop-control-plane-master03",
            "snapshot",
            "hand-off",
        ]);
        for (const id of ["stop-control-plane-master01", "stop-control-plane-master03"]) {
            expect(step(plan.steps, id).dependsOn).toEqual(["preflight-master01", "preflight-master02", "preflight-master03"]);
        }
        expect(step(plan.steps, "snapshot").dependsOn).toEqual([
            "stop-control-plane-master01",
            "stop-control-plane-master02",
            "stop-control-plane-master03",
        ]);
        expect(plan.steps.filter((s) => s.readOnly).map((s) => s.id)).toEqual([
            "preflight-master01",
            "preflight-master02",
            "preflight-master03",
            "hand-off",
        ]);
        expect(plan.uploads).toEqual([]);
    });

    test("preflight checks the stacked etcd, the manifest flags and disk space; changes nothing", () => {
        const first = step(plan.steps, "preflight-master01").commands.join("\n");
        expect(first).toContain(
            "etcdctl --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key --endpoints=https://127.0.0.1:2379 --command-timeout=10s endpoint health",
        );
        expect(first).toMatch(/du -k \/var\/lib\/etcd\/member\/snap\/db/);
        expect(first).toMatch(/df -Pk/);
        for (const flag of ["etcd-servers", "etcd-cafile", "etcd-certfile", "etcd-keyfile"]) expect(first).toContain(`'^ *- --${flag}='`);
        const other = step(plan.steps, "preflight-master02").commands.join("\n");
        expect(other).not.toContain("snapshot");
        for (const s of plan.steps.filter((x) => x.id.startsWith("preflight-"))) {
            expect(s.commands.join("\n")).not.toMatch(/\b(mv|cp|rm|install|chmod|chown|sed -i|mkdir)\b/);
        }
    });

    test("the control plane is stopped by moving manifests aside (kept), never deleted", () => {
        const stop = step(plan.steps, "stop-control-plane-master02").commands.join("\n");
        expect(stop).toContain(`mv /etc/kubernetes/manifests/$m ${STOPPED_MANIFESTS_DIR}/$m`);
        expect(stop).toContain("pgrep -x kube-apiserver");
    });

    test("the snapshot is 0600, verified with etcdutl snapshot status and sha256, an earlier one kept", () => {
        const snap = step(plan.steps, "snapshot");
        expect(snap.node).toBe("master01");
        const text = snap.commands.join("\n");
        expect(text).toContain("(umask 077; /usr/local/bin/etcdctl");
        expect(text).toContain("snapshot save /var/lib/etcd-recovery-migration/stacked-etcd.db)");
        expect(text).toContain("chmod 0600 /var/lib/etcd-recovery-migration/stacked-etcd.db");
        expect(text).toContain("/usr/local/bin/etcdutl snapshot status /var/lib/etcd-recovery-migration/stacked-etcd.db -w table");
        expect(text).toContain("sha256sum stacked-etcd.db > stacked-etcd.db.sha256");
        expect(text).toMatch(
            /mv \/var\/lib\/etcd-recovery-migration\/stacked-etcd.db \/var\/lib\/etcd-recovery-migration\/stacked-etcd.db.before-\$stamp/,
        );
        expect(text).not.toMatch(/\brm\b/);
        const handOff = step(plan.steps, "hand-off").commands.join("\n");
        expect(handOff).toContain("sha256sum -c stacked-etcd.db.sha256");
        expect(handOff).toContain("seedSnapshotPath");
    });

    test("freezeWrites: false keeps the control plane running (and the dry run says writes are lost)", () => {
        const live = planStackedToExternalMigration(input({ stage: "snapshot", seededSnapshotSha256: undefined, freezeWrites: false }));
        expect(ids(live.steps)).toEqual(["preflight-master01", "preflight-master02", "preflight-master03", "snapshot", "hand-off"]);
        expect(renderMigrationDryRun(live)).toContain("writes after the snapshot are lost");
    });
});

describe('stage "switch"', () => {
    const plan = planStackedToExternalMigration(input());

    test("order: preflight → install → rewrite → (all rewritten) stop stacked etcd → start control plane → readyz → verify", () => {
        expect(ids(plan.steps)).toEqual([
            "preflight-master01",
            "preflight-master02",
            "preflight-master03",
            "install-client-files-master01",
            "rewrite-apiserver-master01",
            "install-client-files-master02",
            "rewrite-apiserver-master02",
            "install-client-files-master03",
            "rewrite-apiserver-master03",
            "stop-stacked-etcd-master01",
            "stop-stacked-etcd-master02",
            "stop-stacked-etcd-master03",
            "start-control-plane-master01",
            "wait-readyz-master01",
            "start-control-plane-master02",
            "wait-readyz-master02",
            "start-control-plane-master03",
            "wait-readyz-master03",
            "verify",
        ]);
        const preflights = ["preflight-master01", "preflight-master02", "preflight-master03"];
        for (const s of plan.steps.filter((x) => !x.readOnly)) {
            for (const p of preflights) expect(ancestors(plan.steps, s.id)).toContain(p);
        }
        const rewrites = ["rewrite-apiserver-master01", "rewrite-apiserver-master02", "rewrite-apiserver-master03"];
        expect(step(plan.steps, "stop-stacked-etcd-master02").dependsOn).toEqual(rewrites);
        expect(step(plan.steps, "start-control-plane-master01").dependsOn).toEqual([
            "stop-stacked-etcd-master01",
            "stop-stacked-etcd-master02",
            "stop-stacked-etcd-master03",
        ]);
        expect(step(plan.steps, "verify").dependsOn).toEqual(["wait-readyz-master01", "wait-readyz-master02", "wait-readyz-master03"]);
        expect(step(plan.steps, "verify").node).toBe("master01");
    });

    test("preflight: staged files present, key not readable by others, external healthy with the new certificate, seeded, apiserver still stopped", () => {
        const first = step(plan.steps, "preflight-master01").commands.join("\n");
        expect(first).toContain(
            "/usr/local/bin/etcdctl --endpoints=https://32.16.5.31:2379,https://32.16.5.32:2379,https://32.16.5.33:2379 --cacert=/root/etcd-external/ca.pem --cert=/root/etcd-external/apiserver.pem --key=/root/etcd-external/apiserver-key.pem --command-timeout=10s endpoint health",
        );
        expect(first).toContain(`case "$(stat -c %a /root/etcd-external/apiserver-key.pem)" in *00) ;;`);
        expect(first).toContain(`echo "${SHA}  /var/lib/etcd-recovery-migration/stacked-etcd.db" | sha256sum -c -`);
        expect(first).toContain(
            `--key=/root/etcd-external/apiserver-key.pem --command-timeout=10s get /registry/namespaces/ --prefix --keys-only`,
        );
        expect(first).toContain(`missing=$(grep -vxF -f "$stored" /var/lib/etcd-recovery-migration/stacked-etcd.db.namespaces || true)`);
        expect(first).toContain("pgrep -x kube-apiserver");
        expect(step(plan.steps, "preflight-master02").commands.join("\n")).not.toContain("sha256sum");
    });

    test("client files are copied under umask 077, given root and their mode (key 0600), renamed into place; a different old file kept", () => {
        const install = step(plan.steps, "install-client-files-master02").commands.join("\n");
        const key = "/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key";
        expect(install).toContain(
            `(umask 077; cp /root/etcd-external/apiserver-key.pem ${key}.etcd-recovery-next); chown root:root ${key}.etcd-recovery-next; chmod 0600 ${key}.etcd-recovery-next; mv -f ${key}.etcd-recovery-next ${key}`,
        );
        expect(install).toContain(
            "chmod 0644 /etc/kubernetes/pki/etcd-external/ca.crt.etcd-recovery-next; mv -f /etc/kubernetes/pki/etcd-external/ca.crt.etcd-recovery-next /etc/kubernetes/pki/etcd-external/ca.crt",
        );
        expect(install).toContain(
            "cp -p /etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key /etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key.before-migration-$stamp",
        );
        expect(plan.uploads.filter((u) => u.node === "master02")).toEqual([
            { node: "master02", path: "/root/etcd-external/ca.pem", mode: 0o644, from: "EtcdCluster ext: caCertPem", secret: false },
            {
                node: "master02",
                path: "/root/etcd-external/apiserver.pem",
                mode: 0o644,
                from: "EtcdCluster ext: pki.apiserverClient.certPem",
                secret: false,
            },
            {
                node: "master02",
                path: "/root/etcd-external/apiserver-key.pem",
                mode: 0o600,
                from: "EtcdCluster ext: pki.apiserverClient.keyPem",
                secret: true,
            },
        ]);
    });

    test("the four flags are seed 004's, with the installed paths", () => {
        expect(plan.apiserverEtcdFlags).toEqual([
            "--etcd-servers=https://32.16.5.31:2379,https://32.16.5.32:2379,https://32.16.5.33:2379",
            "--etcd-cafile=/etc/kubernetes/pki/etcd-external/ca.crt",
            "--etcd-certfile=/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.crt",
            "--etcd-keyfile=/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key",
        ]);
    });

    test("stacked etcd is stopped by moving etcd.yaml to a kept place; its data dir is never touched", () => {
        const stop = step(plan.steps, "stop-stacked-etcd-master03").commands.join("\n");
        expect(stop).toContain(`mv /etc/kubernetes/manifests/$m ${STOPPED_MANIFESTS_DIR}/$m`);
        expect(stop).toContain("for m in etcd.yaml;");
        for (const s of plan.steps)
            expect(s.commands.join("\n")).not.toMatch(/rm -rf|rm -r |rm [^-]*\/var\/lib\/etcd|mv \/var\/lib\/etcd\b/);
    });

    test("readyz waits on each node's own apiserver and checks the running flags; verify reads the snapshot's namespaces back", () => {
        const ready = step(plan.steps, "wait-readyz-master02").commands.join("\n");
        expect(ready).toContain(
            "kubectl --kubeconfig=/etc/kubernetes/admin.conf --server=https://32.16.5.22:6443 --request-timeout=5s get --raw=/readyz",
        );
        expect(ready).toContain(
            "pgrep -a kube-apiserver | grep -q -- --etcd-servers=https://32.16.5.31:2379,https://32.16.5.32:2379,https://32.16.5.33:2379",
        );
        const verify = step(plan.steps, "verify").commands.join("\n");
        expect(verify).toContain(`grep -vxF -f "$served" /var/lib/etcd-recovery-migration/stacked-etcd.db.namespaces`);
        expect(verify).toContain("--cacert=/etc/kubernetes/pki/etcd-external/ca.crt");
    });

    test("freezeWrites: false has no start step and no stopped-apiserver check", () => {
        const live = planStackedToExternalMigration(input({ freezeWrites: false }));
        expect(ids(live.steps).filter((id) => id.startsWith("start-"))).toEqual([]);
        expect(step(live.steps, "wait-readyz-master01").dependsOn).toEqual([
            "stop-stacked-etcd-master01",
            "stop-stacked-etcd-master02",
            "stop-stacked-etcd-master03",
        ]);
        expect(step(live.steps, "preflight-master01").commands.join("\n")).not.toContain("pgrep -x kube-apiserver");
    });

    test("the dry run lists every step on every node, the uploads without content, and nothing secret", () => {
        const text = renderMigrationDryRun(plan);
        for (const s of plan.steps) expect(text).toContain(`${s.id} @ ${s.node}`);
        expect(text).toContain(
            "master01:/root/etcd-external/apiserver-key.pem mode 0600 from EtcdCluster ext: pki.apiserverClient.keyPem (secret)",
        );
        expect(text).toContain(
            "master02: preflight-master02 → install-client-files-master02 → rewrite-apiserver-master02 → stop-stacked-etcd-master02 → start-control-plane-master02 → wait-readyz-master02",
        );
    });
});

describe("nothing secret on a command line", () => {
    test("no step holds key material, a password or a token; keys appear only as paths", () => {
        for (const stage of ["snapshot", "switch"] as const) {
            const plan = planStackedToExternalMigration(input(stage === "snapshot" ? { stage, seededSnapshotSha256: undefined } : {}));
            const all = plan.steps.flatMap((s) => s.commands).join("\n") + renderMigrationDryRun(plan);
            expect(all).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY|password|--token|ETCDCTL_PASSWORD|--user[= ]/i);
            // Every mention of a key file is a path passed to a flag or a file command, never echoed content.
            expect(all).not.toMatch(/cat [^\n]*key/);
        }
    });
});

describe("the manifest rewrite, run for real on seed 004's kube-apiserver.yaml", () => {
    const SEED_MANIFEST = [
        "apiVersion: v1",
        "kind: Pod",
        "metadata:",
        "  name: kube-apiserver",
        "  namespace: kube-system",
        "spec:",
        "  containers:",
        "  - command:",
        "    - kube-apiserver",
        "    - --advertise-address=32.16.5.21",
        "    - --client-ca-file=/etc/kubernetes/pki/ca.crt",
        "    - --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
        "    - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "    - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
        "    - --etcd-servers=https://127.0.0.1:2379",
        "    - --etcd-servers-overrides=/events#https://127.0.0.1:2379",
        "    - --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
        "    image: registry.k8s.io/kube-apiserver:v1.30.0",
        "",
    ].join("\n");

    let root: string;
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "migration-rewrite-"));
        for (const dir of ["manifests", "stopped", "keep"]) fs.mkdirSync(path.join(root, dir));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    function rewriteStep(): RestoreStep {
        const plan = planStackedToExternalMigration(
            input({ manifestsDir: `${root}/manifests`, stoppedManifestsDir: `${root}/stopped`, keepDir: `${root}/keep/copies` }),
        );
        return step(plan.steps, "rewrite-apiserver-master01");
    }
    const run = (s: RestoreStep) =>
        execFileSync("sh", ["-eu", "-c", s.commands.join("\n")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

    test("sed and sh are here (the test needs them)", () => {
        expect(() => execFileSync("sed", ["--version"])).not.toThrow();
    });

    test("first run rewrites only the four flags and keeps a copy; a second run changes nothing and copies nothing", () => {
        const manifest = `${root}/stopped/kube-apiserver.yaml`;
        fs.writeFileSync(manifest, SEED_MANIFEST, { mode: 0o600 });
        const s = rewriteStep();
        const firstOut = run(s);
        expect(firstOut).toContain(`rewrote ${manifest}`);
        const after = fs.readFileSync(manifest, "utf8");
        const expected = SEED_MANIFEST.replace(
            "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
            "--etcd-cafile=/etc/kubernetes/pki/etcd-external/ca.crt",
        )
            .replace(
                "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
                "--etcd-certfile=/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.crt",
            )
            .replace(
                "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
                "--etcd-keyfile=/etc/kubernetes/pki/etcd-external/apiserver-etcd-client.key",
            )
            .replace("--etcd-servers=https://127.0.0.1:2379\n", `--etcd-servers=${EXTERNAL.join(",")}\n`);
        expect(after).toBe(expected);
        expect(after).toContain("--etcd-servers-overrides=/events#https://127.0.0.1:2379"); // a different flag, left alone
        expect(fs.statSync(manifest).mode & 0o777).toBe(0o600);
        const copies = fs.readdirSync(`${root}/keep/copies`);
        expect(copies).toHaveLength(1);
        expect(copies[0]).toMatch(/^kube-apiserver\.yaml\.before-migration-\d{8}T\d{6}Z$/);
        expect(fs.readFileSync(`${root}/keep/copies/${copies[0]}`, "utf8")).toBe(SEED_MANIFEST);
        expect(fs.readdirSync(`${root}/stopped`)).toEqual(["kube-apiserver.yaml"]); // no temp file left behind

        const secondOut = run(s);
        expect(secondOut).toContain("already points at the external cluster: unchanged");
        expect(fs.readFileSync(manifest, "utf8")).toBe(expected);
        expect(fs.readdirSync(`${root}/keep/copies`)).toHaveLength(1);
    });

    test("a manifest in the kubelet's dir is rewritten there; both present, or a flag missing, stops with a message", () => {
        fs.writeFileSync(`${root}/manifests/kube-apiserver.yaml`, SEED_MANIFEST);
        const s = rewriteStep();
        run(s);
        expect(fs.readFileSync(`${root}/manifests/kube-apiserver.yaml`, "utf8")).toContain(`--etcd-servers=${EXTERNAL.join(",")}`);

        fs.writeFileSync(`${root}/stopped/kube-apiserver.yaml`, SEED_MANIFEST);
        expect(() => run(s)).toThrow(/both .* exist/);
        fs.rmSync(`${root}/stopped/kube-apiserver.yaml`);

        fs.writeFileSync(`${root}/manifests/kube-apiserver.yaml`, SEED_MANIFEST.replace(/.*--etcd-keyfile.*\n/, ""));
        expect(() => run(s)).toThrow(/has 0 '- --etcd-keyfile=' lines, expected 1/);
    });

    test("the sed program alone is a fixed point", () => {
        const program = etcdFlagsSedProgram(planStackedToExternalMigration(input()).apiserverEtcdFlags);
        const once = execFileSync("sh", ["-c", `sed ${program}`], { input: SEED_MANIFEST, encoding: "utf8" });
        const twice = execFileSync("sh", ["-c", `sed ${program}`], { input: once, encoding: "utf8" });
        expect(once).not.toBe(SEED_MANIFEST);
        expect(twice).toBe(once);
    });
});

describe("validation names argument, value and fix", () => {
    test.each([
        [{ stage: "both" as never }, "stage", /use "snapshot".*or "switch"/],
        // LayoutPreset in the type (the multi-language schema has no one-value enum): the plan refuses the others.
        [{ layout: "rke" as const }, "layout", /use "kubeadm": only kubeadm runs etcd stacked/],
        [{ layout: "kubespray" as const }, "layout", /use "kubeadm": only kubeadm runs etcd stacked/],
        [{ layoutOverrides: { setJoinConfig: ["x"] } }, "layoutOverrides.setJoinConfig", /does not use this field/],
        [{ layoutOverrides: { etcdctl: "etcdctl --cert={node}.pem" } }, "layoutOverrides.etcdctl", /fills no \{placeholders\}/],
        [{ nodes: [] }, "nodes", /list every kubeadm control-plane node/],
        [
            {
                nodes: [
                    { name: "a", address: "10.0.0.1" },
                    { name: "b", address: "10.0.0.1" },
                ],
            },
            "nodes[1].address",
            /already has this address/,
        ],
        [
            {
                nodes: [
                    { name: "a", address: "10.0.0.1" },
                    { name: "a", address: "10.0.0.2" },
                ],
            },
            "nodes[1].name",
            /same name/,
        ],
        [{ externalEndpoints: [] }, "externalEndpoints", /client URLs/],
        [{ externalEndpoints: ["http://10.0.1.1:2379"] }, "externalEndpoints[0]", /https:\/\/host:port/],
        [{ externalEndpoints: ["https://10.0.1.1:2379|x"] }, "externalEndpoints[0]", /https:\/\/host:port/],
        [{ externalEndpoints: ["https://127.0.0.1:2379"] }, "externalEndpoints[0]", /stacked etcd on the node itself/],
        [{ externalEndpoints: ["https://10.0.1.1:2379", "https://10.0.1.1:2379"] }, "externalEndpoints[1]", /listed twice/],
        [
            { installPaths: { caFile: "/etc/kubernetes/pki/etcd/ca.crt", certFile: "/x/c.crt", keyFile: "/x/c.key" } },
            "installPaths.caFile",
            /stacked etcd uses this path/,
        ],
        [
            { installPaths: { caFile: "/x/ca.crt", certFile: "/etc/kubernetes/pki/apiserver-etcd-client.crt", keyFile: "/x/c.key" } },
            "installPaths.certFile",
            /stacked etcd uses this path/,
        ],
        [
            { installPaths: { caFile: "/x/ca.crt", certFile: "/x/c.crt", keyFile: "/x/c.crt" } },
            "installPaths.keyFile",
            /another client file/,
        ],
        [{ installPaths: { caFile: "/x/ca crt", certFile: "/x/c.crt", keyFile: "/x/c.key" } }, "installPaths.caFile", /absolute path/],
        [{ clientFiles: undefined as never }, "clientFiles", /caCert, cert, key/],
        [{ snapshotPath: "/var/lib/etcd/snap.db" }, "snapshotPath", /outside etcd's data dir/],
        [{ snapshotPath: "relative.db" }, "snapshotPath", /absolute path/],
        [{ keepDir: "/etc/kubernetes/manifests/old" }, "keepDir", /kubelet runs every manifest/],
        [{ stoppedManifestsDir: "/etc/kubernetes/manifests" }, "stoppedManifestsDir", /must differ/],
        [{ seededSnapshotSha256: undefined }, "seededSnapshotSha256", /64-hex sha256 the hand-off step/],
        [{ seededSnapshotSha256: "ABC" }, "seededSnapshotSha256", /64-hex/],
        [{ stage: "snapshot" as const }, "seededSnapshotSha256", /only stage "switch" takes it/],
        [{ readyTimeoutSeconds: 5 }, "readyTimeoutSeconds", /≥ 10/],
        [{ apiserverPort: 0 }, "apiserverPort", /secure-port/],
        [{ kubectl: "kubectl\nrm -rf /" }, "kubectl", /admin kubeconfig/],
        [{ stackedEndpoint: "127.0.0.1:2379" }, "stackedEndpoint", /scheme:\/\/host:port/],
    ])("%j → %s", (overrides, argument, fix) => {
        expectInputError(() => planStackedToExternalMigration(input(overrides as Partial<StackedToExternalMigrationInput>)), argument, fix);
    });

    test("clientFiles: each needs a staged path of its own and a one-line origin", () => {
        const files = input().clientFiles;
        expectInputError(
            () =>
                planStackedToExternalMigration(input({ clientFiles: { ...files, key: { stagedPath: files.cert.stagedPath, from: "x" } } })),
            "clientFiles.key.stagedPath",
            /another client file/,
        );
        expectInputError(
            () => planStackedToExternalMigration(input({ clientFiles: { ...files, cert: { stagedPath: "/root/c.pem", from: "" } } })),
            "clientFiles.cert.from",
            /where the content comes from/,
        );
    });
});
