// The snapshot reader against snapshots written by real etcd: Debian's etcd 3.4 (/usr/bin) and the
// project's etcd 3.5 (scripts/tools.sh). Each runs as a plain process on 127.0.0.1, gets known
// Kubernetes-shaped content (several revisions of a key, deletions, a 1 MiB value, 3000 objects,
// protobuf, encrypted and CRD values), is compacted at a middle revision and snapshotted with its own
// etcdctl. The reader must hold exactly what etcd kept, agree with `etcdctl get --rev`, and with
// `snapshot status` (revision, total size, key count); damaged copies of it (cut, bit flips) end in
// SnapshotFormatError or a read, never another error or a hang. A missing tool fails the test.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { runRecoveryCli } from "../../src/cli/recovery";
import { Snapshot, Walk, latestObjects, objectValues, snapshotStats } from "../../src/snapshot";
import { PageFlag } from "../../src/snapshot/bolt";
import { run } from "../harness/exec";
import { requireTool, toolsBinDir } from "../support/processes";
import { KnownContent, PlainEtcd, heldWrites, startPlainEtcd, writeKnownContent } from "../fixtures/snapshot/live-etcd";
import { flippedCopies, prng, readAll } from "../fixtures/snapshot/fuzz-support";

jest.setTimeout(240_000);

const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

describe.each([
    {
        version: "3.4",
        binDir: "/usr/bin",
        status: (file: string) =>
            run(requireTool("etcdctl", "/usr/bin"), ["snapshot", "status", file, "-w", "json"], {
                env: { ...process.env, ETCDCTL_API: "3" },
            }),
    },
    {
        version: "3.5",
        binDir: toolsBinDir(),
        status: (file: string) => run(requireTool("etcdutl"), ["snapshot", "status", file, "-w", "json"]),
    },
])("etcd $version", ({ version, binDir, status }) => {
    let etcd: PlainEtcd;
    let known: KnownContent;
    let file: string;
    let snapshot: Snapshot;

    beforeAll(async () => {
        etcd = await startPlainEtcd(binDir, `reader-${version}`);
        const reported = (await run(requireTool("etcd", binDir), ["--version"])).stdout;
        expect(reported).toContain(`etcd Version: ${version}.`);
        known = await writeKnownContent(etcd);
        file = path.join(etcd.dir, "snapshot.db");
        await etcd.snapshotSave(file);
        snapshot = Snapshot.open(file);
    });

    afterAll(async () => {
        snapshot?.close();
        await etcd?.stop();
    });

    test("holds exactly the revisions etcd kept after compaction, with the bytes written", () => {
        const expected = heldWrites(known.writes, known.compactedAt).map((w) => ({
            revision: w.revision,
            key: w.key,
            ...(w.value ? { sha256: sha(w.value) } : { deleted: true }),
        }));
        const got = [...snapshot.revisions()].map((r) => ({
            revision: r.revision.main,
            key: r.key,
            ...(r.revision.tombstone ? { deleted: true } : { sha256: sha(r.kv.value) }),
        }));
        expect(got.length).toBe(expected.length);
        expect(got).toEqual(expected);
    });

    test("agrees with etcdctl get --rev", async () => {
        const key = "/registry/configmaps/shop/app-config";
        const revisions = known.writes.filter((w) => w.key === key).map((w) => w.revision);
        for (const rev of [known.compactedAt, revisions[revisions.length - 1]!, known.writes[known.writes.length - 1]!.revision]) {
            const fromEtcd = await etcd.getAt(key, rev);
            const fromFile = objectValues(snapshot, { resources: ["configmaps"], namespace: "shop", name: "app-config" }, rev).map(
                (v) => v.value,
            );
            expect(fromFile.map(sha)).toEqual(fromEtcd.map(sha));
        }
        // Before the compaction etcd refuses (compacted) and the file holds nothing either.
        await expect(etcd.getAt(key, revisions[0]!)).rejects.toThrow(/compacted/);
        expect(objectValues(snapshot, { resources: ["configmaps"], namespace: "shop", name: "app-config" }, revisions[0]!)).toEqual([]);
        const bulk = "/registry/configmaps/bulk/cm-01234";
        const fromEtcd = await etcd.getAt(bulk, known.writes[known.writes.length - 1]!.revision);
        expect(objectValues(snapshot, { resources: ["configmaps"], namespace: "bulk", name: "cm-01234" }).map((v) => sha(v.value))).toEqual(
            fromEtcd.map(sha),
        );
    });

    test("the 1 MiB value comes back whole from its overflow pages; the key bucket has branch pages", () => {
        const [big] = objectValues(snapshot, { resources: ["secrets"], namespace: "shop", name: "big" });
        expect(big!.value.length).toBe(known.bigValue.length);
        expect(big!.value.equals(known.bigValue)).toBe(true);
        const ref = snapshot.bolt.findBucket("key") as { kind: "page"; root: number };
        expect(snapshot.bolt.page(ref.root, new Walk()).flags).toBe(PageFlag.branch);
    });

    test("ls: latest live objects with Kubernetes names and encodings", () => {
        const { objects } = latestObjects(snapshot, {});
        expect(objects.filter((o) => o.namespace === "bulk")).toHaveLength(known.bulkCount);
        const byKey = new Map(objects.map((o) => [o.key, o]));
        expect(byKey.get("/registry/configmaps/shop/app-config")).toMatchObject({
            version: 3,
            modRevision: known.writes.filter((w) => w.key === "/registry/configmaps/shop/app-config").pop()!.revision,
        });
        expect(byKey.has("/registry/configmaps/shop/gone")).toBe(false);
        expect(byKey.get("/registry/deployments/shop/web")!.encoding).toMatchObject({
            type: "protobuf",
            apiVersion: "apps/v1",
            kind: "Deployment",
        });
        expect(byKey.get("/registry/secrets/shop/db-password")!.encoding).toMatchObject({
            type: "encrypted",
            provider: "aescbc",
            keyName: "key1",
        });
        expect(byKey.get("/registry/example.com/widgets/shop/w1")!.resource).toBe("widgets.example.com");
    });

    test("stats agree with etcd's own snapshot status", async () => {
        const stats = snapshotStats(snapshot);
        const etcdStatus = JSON.parse((await status(file)).stdout) as { revision: number; totalKey: number; totalSize: number };
        expect(stats.hash.state).toBe("ok");
        expect(stats.revisions.newest).toBe(etcdStatus.revision);
        expect(stats.dbSize).toBe(etcdStatus.totalSize);
        expect(stats.buckets.reduce((n, b) => n + b.entries, 0)).toBe(etcdStatus.totalKey);
        expect(stats.compactedRevision).toBe(known.compactedAt);
        expect(stats.pages.inUse + stats.pages.free).toBe(stats.pages.total);
        expect(stats.resources[0]!.resource).toBe("configmaps");
        expect(stats.resources.find((r) => r.resource === "secrets")!.bytes).toBeGreaterThan(known.bigValue.length);
    });

    test("damaged copies: 60 cuts and 120 seeded bit-flip cases end in a read or SnapshotFormatError, each within 5 s", () => {
        const original = fs.readFileSync(file);
        const pages = Math.floor(original.length / 4096);
        const opts = { maxPageVisits: pages * 20, boundMs: 5_000 };
        const caseFile = path.join(etcd.dir, "case.db");
        const random = prng(version === "3.4" ? 34 : 35);
        for (let i = 0; i < 60; i++) {
            const length = Math.floor(random() * original.length);
            expect(readAll(original.subarray(0, length), caseFile, `etcd ${version} cut at ${length}`, opts)).toBe(
                length === pages * 4096 ? "read" : "refused",
            );
        }
        const outcomes = { read: 0, refused: 0 };
        for (const { bytes, label } of flippedCopies(original, 4096, 120, version === "3.4" ? 3400 : 3500))
            outcomes[readAll(bytes, caseFile, `etcd ${version} ${label}`, opts)]++;
        expect(outcomes.read + outcomes.refused).toBe(120);
    });

    test("the CLI on this snapshot: get prints the JSON written, stats runs", async () => {
        let stdout = "";
        let stderr = "";
        const io = { stdout: (t: string) => (stdout += t), stderr: (t: string) => (stderr += t) };
        expect(await runRecoveryCli(["snapshot", "get", file, "--kind", "widgets.example.com", "-n", "shop", "--name", "w1"], io)).toBe(0);
        expect(JSON.parse(stdout).spec).toEqual({ size: 3 });
        stdout = "";
        expect(await runRecoveryCli(["snapshot", "stats", file], io)).toBe(0);
        expect(stdout).toMatch(/SHA-256 ok/);
        expect(stderr).not.toMatch(/error/);
        // The member's own db (no hash trailer) reads too, with a note.
        const copy = path.join(etcd.dir, "copied.db");
        fs.writeFileSync(copy, fs.readFileSync(file).subarray(0, snapshot.bolt.dbLength));
        stderr = "";
        expect(await runRecoveryCli(["snapshot", "ls", copy, "-n", "shop"], io)).toBe(0);
        expect(stderr).toMatch(/no integrity hash/);
    });
});
