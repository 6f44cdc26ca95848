// `etcd-recovery snapshot …` through the CLI's own entry (runRecoveryCli), with fake io, on the
// etcd 3.5 fixture: output, exit codes and usage errors that name the flag, the value and the fix.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runRecoveryCli } from "../../src/cli/recovery";
import { parseSnapshotArgs } from "../../src/cli/snapshot";

const FIXTURE = path.join(__dirname, "..", "fixtures", "snapshot", "small.db");

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    const code = await runRecoveryCli(["snapshot", ...argv], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
    return { code, stdout, stderr };
}

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "snapshot-cli-"))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("ls: a table of the default namespace and cluster-scoped objects, with a note on what -A adds", async () => {
    const r = await cli("ls", FIXTURE);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^RESOURCE\s+NAMESPACE\s+NAME\s+CREATED\s+MODIFIED\s+VERSION\s+SIZE\s+ENCODING\s+KEY$/);
    expect(r.stdout).toMatch(/services\s+default\s+kubernetes/);
    expect(r.stdout).toMatch(/namespaces\s+shop\s+/);
    expect(r.stdout).not.toMatch(/app-config/);
    expect(r.stderr).toMatch(/206 matching objects in other namespaces are not shown \(-A for all/);
});

test("ls -n shop --kind: JSON with encodings", async () => {
    const r = await cli("ls", FIXTURE, "-n", "shop", "--kind", "secrets,deployments.apps", "--output", "json");
    expect(r.code).toBe(0);
    const objects = JSON.parse(r.stdout) as { key: string; encoding: unknown }[];
    expect(objects.map((o) => [o.key, o.encoding])).toEqual([
        [
            "/registry/deployments/shop/web",
            { type: "protobuf", apiVersion: "apps/v1", kind: "Deployment", contentEncoding: "", contentType: "" },
        ],
        ["/registry/secrets/shop/big", { type: "json" }],
        ["/registry/secrets/shop/db-password", { type: "encrypted", provider: "aescbc", providerVersion: "v1", keyName: "key1" }],
    ]);
});

test("history marks deletions, oldest first", async () => {
    const r = await cli("history", FIXTURE, "-n", "shop", "--kind", "configmaps");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^8\s+updated\s+configmaps\s+shop\s+app-config\s+2/m);
    expect(r.stdout).toMatch(/^9\s+updated\s+configmaps\s+shop\s+app-config\s+3/m);
    expect(r.stdout).toMatch(/^11\s+DELETED\s+configmaps\s+shop\s+gone\s*$/m);
    expect(r.stdout.indexOf("\n8 ")).toBeLessThan(r.stdout.indexOf("\n11 "));
});

test("get: pretty JSON, --rev for an earlier one, deletions and protobuf/encrypted values exit 1 with the way on", async () => {
    const latest = await cli("get", FIXTURE, "--kind", "configmaps", "-n", "shop", "--name", "app-config");
    expect(latest.code).toBe(0);
    expect(JSON.parse(latest.stdout).data).toEqual({ color: "blue" });
    expect(latest.stdout).toContain('\n  "apiVersion": "v1",\n');
    const older = await cli("get", FIXTURE, "--kind", "configmaps", "-n", "shop", "--name", "app-config", "--rev", "8");
    expect(JSON.parse(older.stdout).data).toEqual({ color: "green" });
    const gone = await cli("get", FIXTURE, "--kind", "configmaps", "-n", "shop", "--name", "gone");
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/deleted at revision 11.*--rev/);
    const beforeDelete = await cli("get", FIXTURE, "--kind", "configmaps", "-n", "shop", "--name", "gone", "--rev", "10");
    expect(beforeDelete.code).toBe(0);
    const proto = await cli("get", FIXTURE, "--kind", "deployments.apps", "-n", "shop", "--name", "web");
    expect(proto.code).toBe(1);
    expect(proto.stdout).toBe("");
    expect(proto.stderr).toMatch(
        /protobuf \(apps\/v1\/Deployment.*RecoveryEnvironment.*etcd-recovery export --kubeconfig FILE --kind deployments -n shop --name web/,
    );
    const secret = await cli("get", FIXTURE, "--kind", "secrets", "-n", "shop", "--name", "db-password");
    expect(secret.code).toBe(1);
    expect(secret.stderr).toMatch(/encrypted at rest \(provider aescbc v1, key "key1".*never decrypts/);
    const missing = await cli("get", FIXTURE, "--kind", "configmaps", "--name", "app-config");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no configmaps app-config in namespace default/);
    const cluster = await cli("get", FIXTURE, "--kind", "clusterroles", "--name", "system:viewer");
    expect(cluster.code).toBe(0);
});

test("stats: resources by bytes, compaction and the hash; json too", async () => {
    const r = await cli("stats", FIXTURE);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/integrity\s+SHA-256 ok/);
    expect(r.stdout).toMatch(/compacted at revision 8/);
    expect(r.stdout).toMatch(/\nRESOURCE\s+OBJECTS\s+REVISIONS\s+BYTES\nconfigmaps\s+202\s+205\s/);
    const json = JSON.parse((await cli("stats", FIXTURE, "-o", "json")).stdout);
    expect(json).toMatchObject({ compactedRevision: 8, hash: { state: "ok" } });
});

test("a copied db is read with a note; a damaged one warns and exits 1; an unreadable one exits 2", async () => {
    const bytes = fs.readFileSync(FIXTURE);
    const copied = path.join(tmp, "copied.db");
    fs.writeFileSync(copied, bytes.subarray(0, bytes.length - 32));
    const c = await cli("ls", copied, "-A");
    expect(c.code).toBe(0);
    expect(c.stderr).toMatch(/no integrity hash/);
    const damaged = path.join(tmp, "damaged.db");
    const d = Buffer.from(bytes);
    d[d.length - 100] ^= 1;
    fs.writeFileSync(damaged, d);
    const dr = await cli("ls", damaged, "-A");
    expect(dr.code).toBe(1);
    expect(dr.stderr).toMatch(/WARNING: .*SHA-256 MISMATCH/);
    const cut = path.join(tmp, "cut.db");
    fs.writeFileSync(cut, bytes.subarray(0, 5 * 4096));
    const cr = await cli("stats", cut);
    expect(cr.code).toBe(2);
    expect(cr.stderr).toMatch(
        /^error: snapshot .*cut\.db page \d: the database has \d+ pages by its meta page but the file holds 5: it is truncated/,
    );
    const none = await cli("ls", path.join(tmp, "nope.db"));
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/cannot read .*nope\.db: ENOENT/);
});

test("usage errors name the flag, the value and the fix, exit 2", async () => {
    const cases: [string[], RegExp][] = [
        [[], /usage:/],
        [["list", FIXTURE], /unknown snapshot command "list": use ls, get, history or stats/],
        [["ls"], /snapshot ls needs FILE/],
        [["ls", FIXTURE, "other.db"], /reads one FILE; unexpected "other.db"/],
        [["ls", FIXTURE, "-n", "shop", "-A"], /-n and -A exclude each other/],
        [["ls", FIXTURE, "--output", "yaml"], /--output yaml: use table or json/],
        [["ls", FIXTURE, "--kind"], /--kind needs a value/],
        [["ls", FIXTURE, "--kind", "Config Maps"], /--kind "Config Maps": give a resource as kubectl names it/],
        [["ls", FIXTURE, "--etcd-prefix", "registry"], /--etcd-prefix "registry": kube-apiserver's prefix starts with \//],
        [["ls", FIXTURE, "--rev", "3"], /--rev belongs to get/],
        [["get", FIXTURE, "--kind", "configmaps"], /get needs --kind KIND and --name NAME/],
        [["get", FIXTURE, "--kind", "configmaps", "--name", "a", "--rev", "abc"], /--rev abc: give a revision, a positive whole number/],
        [["get", FIXTURE, "--kind", "configmaps", "--name", "a", "-A"], /give -n NAMESPACE, not -A/],
        [["stats", FIXTURE, "--kind", "configmaps"], /stats covers the whole file/],
        [["ls", FIXTURE, "--bogus"], /unknown flag --bogus for snapshot ls/],
    ];
    for (const [argv, message] of cases) {
        const r = await cli(...argv);
        expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
        expect(r.stderr + r.stdout).toMatch(message);
    }
    expect((await cli("--help")).code).toBe(0);
    expect(parseSnapshotArgs(["ls", "f.db", "--kind", "a", "--kind", "b,c", "-A"])).toMatchObject({
        kinds: ["a", "b", "c"],
        allNamespaces: true,
        etcdPrefix: "/registry",
        output: "table",
    });
});

test("--etcd-prefix: another prefix finds nothing in a /registry snapshot", async () => {
    const r = await cli("ls", FIXTURE, "-A", "--etcd-prefix", "/other", "-o", "json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
});
