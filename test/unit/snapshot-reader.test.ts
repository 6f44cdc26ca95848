// The snapshot reader on a snapshot real etcd 3.5 wrote (test/fixtures/snapshot/small.db, made by
// make-fixture.ts; small.json says what it must hold), and its pure parts on hand-made input.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    Snapshot,
    SnapshotFormatError,
    Walk,
    classifyValue,
    decodeKeyValue,
    latestObjects,
    objectHistory,
    objectValues,
    parseObjectKey,
    parseRevisionKey,
    resourceMatches,
    snapshotStats,
} from "../../src/snapshot";
import { fnv1a64, PageFlag } from "../../src/snapshot/bolt";
import { readVarint } from "../../src/snapshot/protobuf";

const FIXTURE = path.join(__dirname, "..", "fixtures", "snapshot", "small.db");
const EXPECTED = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "snapshot", "small.json"), "utf8")) as {
    compactedAt: number;
    held: { revision: number; key: string; sha256?: string; size?: number; deleted?: boolean }[];
};
const sha = (b: Buffer) => crypto.createHash("sha256").update(b).digest("hex");

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "snapshot-unit-"))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function variant(name: string, change: (bytes: Buffer) => Buffer): string {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, change(Buffer.from(fs.readFileSync(FIXTURE))));
    return file;
}

function withSnapshot<T>(file: string, use: (s: Snapshot) => T): T {
    const s = Snapshot.open(file);
    try {
        return use(s);
    } finally {
        s.close();
    }
}

describe("on a snapshot from etcd 3.5", () => {
    test("every revision held, oldest first, with the exact values written", () => {
        const got = withSnapshot(FIXTURE, (s) =>
            [...s.revisions()].map((r) => ({
                revision: r.revision.main,
                key: r.key,
                ...(r.revision.tombstone ? { deleted: true } : { sha256: sha(r.kv.value), size: r.kv.value.length }),
            })),
        );
        expect(got).toEqual(EXPECTED.held);
    });

    test("the key bucket spans branch and leaf pages and the big secret sits on overflow pages", () => {
        withSnapshot(FIXTURE, (s) => {
            const ref = s.bolt.findBucket("key")!;
            expect(ref.kind).toBe("page");
            const root = s.bolt.page((ref as { root: number }).root, new Walk());
            expect(root.flags).toBe(PageFlag.branch);
            const big = [...s.revisions()].find((r) => r.key === "/registry/secrets/shop/big")!;
            expect(s.bolt.page(big.page, new Walk()).overflow).toBeGreaterThan(0);
        });
    });

    test("ls: the latest live revision per object; deletions and compacted revisions are not there", () => {
        const { objects, outsideNamespace } = withSnapshot(FIXTURE, (s) => latestObjects(s, { namespace: "shop" }));
        const byKey = new Map(objects.map((o) => [o.key, o]));
        expect(byKey.get("/registry/configmaps/shop/app-config")).toMatchObject({
            resource: "configmaps",
            namespace: "shop",
            name: "app-config",
            createRevision: 3,
            modRevision: 9,
            version: 3,
            encoding: { type: "json" },
        });
        expect(byKey.has("/registry/configmaps/shop/gone")).toBe(false);
        expect(byKey.has("/registry/configmaps/shop/old-gone")).toBe(false);
        expect(byKey.get("/registry/deployments/shop/web")!.encoding).toEqual({
            type: "protobuf",
            apiVersion: "apps/v1",
            kind: "Deployment",
            contentEncoding: "",
            contentType: "",
        });
        expect(byKey.get("/registry/secrets/shop/db-password")!.encoding).toEqual({
            type: "encrypted",
            provider: "aescbc",
            providerVersion: "v1",
            keyName: "key1",
        });
        expect(byKey.get("/registry/example.com/widgets/shop/w1")).toMatchObject({
            resource: "widgets.example.com",
            namespace: "shop",
            name: "w1",
        });
        // Cluster-scoped objects match any namespace filter.
        expect(byKey.get("/registry/namespaces/shop")).toMatchObject({ resource: "namespaces", name: "shop" });
        expect(byKey.get("/registry/namespaces/shop")!.namespace).toBeUndefined();
        expect(byKey.get("/registry/clusterroles/system:viewer")).toMatchObject({ resource: "clusterroles", name: "system:viewer" });
        expect(objects.some((o) => o.namespace === "bulk")).toBe(false);
        expect(outsideNamespace).toBe(201); // 200 bulk + the kubernetes Service in default
        const all = withSnapshot(FIXTURE, (s) => latestObjects(s, {}));
        expect(all.objects.filter((o) => o.namespace === "bulk")).toHaveLength(200);
        expect(all.objects.find((o) => o.key === "/registry/services/specs/default/kubernetes")).toMatchObject({
            resource: "services",
            namespace: "default",
            name: "kubernetes",
        });
        expect(all.objects.some((o) => o.key === "outside/the/prefix")).toBe(false);
    });

    test("history: both held revisions of app-config, and the deletion of gone", () => {
        const history = withSnapshot(FIXTURE, (s) => objectHistory(s, { resources: ["configmaps"], namespace: "shop" }));
        expect(history.filter((h) => h.name === "app-config").map((h) => [h.revision, h.version])).toEqual([
            [8, 2],
            [9, 3],
        ]);
        expect(history.filter((h) => h.name === "gone").map((h) => [h.revision, h.deleted])).toEqual([
            [10, false],
            [11, true],
        ]);
        expect(history.some((h) => h.name === "old-gone")).toBe(false);
    });

    test("values at a revision: the latest at or before it, nothing before the compaction", () => {
        withSnapshot(FIXTURE, (s) => {
            const at = (rev?: number) =>
                objectValues(s, { resources: ["configmaps"], namespace: "shop", name: "app-config" }, rev).map(
                    (v) => JSON.parse(v.value.toString()).data.color,
                );
            expect(at()).toEqual(["blue"]);
            expect(at(8)).toEqual(["green"]);
            expect(at(7)).toEqual([]);
        });
    });

    test("stats: revision range, compaction, pages, hash, resources by bytes", () => {
        const stats = withSnapshot(FIXTURE, (s) => snapshotStats(s));
        expect(stats.hash.state).toBe("ok");
        expect(stats.compactedRevision).toBe(EXPECTED.compactedAt);
        expect(stats.revisions).toEqual({
            count: EXPECTED.held.length,
            deletions: 1,
            oldest: EXPECTED.held[0]!.revision,
            newest: EXPECTED.held[EXPECTED.held.length - 1]!.revision,
        });
        expect(stats.pages.inUse + stats.pages.free).toBe(stats.pages.total);
        expect(stats.pages.total * stats.pageSize).toBe(stats.dbSize);
        expect(stats.fileSize).toBe(stats.dbSize + 32);
        expect(stats.resources[0]!.resource).toBe("configmaps");
        expect(stats.resources.map((r) => r.bytes)).toEqual([...stats.resources.map((r) => r.bytes)].sort((a, b) => b - a));
        expect(stats.otherKeys).toMatchObject({ keys: 1, revisions: 1 });
        expect(stats.buckets.map((b) => b.name)).toEqual(expect.arrayContaining(["key", "meta", "members", "lease"]));
    });
});

describe("damaged and copied files", () => {
    test("a db without etcdctl's hash is read and reported as having none", () => {
        const file = variant("copied.db", (b) => b.subarray(0, b.length - 32));
        withSnapshot(file, (s) => {
            expect(s.checkHash()).toEqual({ state: "absent" });
            expect([...s.revisions()]).toHaveLength(EXPECTED.held.length);
        });
    });

    test("a changed byte in a data page fails the hash check", () => {
        const file = variant("flipped.db", (b) => {
            b[b.length - 32 - 10] ^= 0xff;
            return b;
        });
        expect(withSnapshot(file, (s) => s.checkHash().state)).toBe("mismatch");
    });

    test("the newer meta page damaged: the older one is used and the problem named", () => {
        const newer = withSnapshot(FIXTURE, (s) => s.bolt.meta.page);
        const file = variant("meta-newer.db", (b) => {
            b[newer * 4096 + 16 + 20] ^= 0x01; // its root page id
            return b;
        });
        withSnapshot(file, (s) => {
            expect(s.bolt.meta.page).toBe(1 - newer);
            expect([...s.revisions()].length).toBeGreaterThan(0);
            expect(s.bolt.meta.otherMetaProblem).toMatch(/checksum/);
        });
    });

    test("both meta pages damaged, truncation, and not a bbolt file: SnapshotFormatError naming the file", () => {
        const both = variant("meta01.db", (b) => {
            b[16 + 20] ^= 1;
            b[4096 + 16 + 20] ^= 1;
            return b;
        });
        expect(() => Snapshot.open(both)).toThrow(/neither meta page is valid/);
        const cut = variant("cut.db", (b) => b.subarray(0, 8 * 4096));
        expect(() => Snapshot.open(cut)).toThrow(/truncated/);
        const text = variant("text.db", () => Buffer.from("hello, not a database\n".repeat(500)));
        try {
            Snapshot.open(text);
            throw new Error("opened");
        } catch (error) {
            expect(error).toBeInstanceOf(SnapshotFormatError);
            expect((error as SnapshotFormatError).file).toBe(text);
            expect((error as Error).message).toMatch(/bad magic/);
        }
    });
});

describe("pure parts", () => {
    test("FNV-1a 64 as Go's hash/fnv", () => {
        expect(fnv1a64(Buffer.alloc(0))).toBe(0xcbf29ce484222325n);
        expect(fnv1a64(Buffer.from("a"))).toBe(0xaf63dc4c8601ec8cn);
    });

    test("varints and KeyValue", () => {
        expect(readVarint(Buffer.from([0xac, 0x02]), 0)).toEqual([300, 2]);
        expect(() => readVarint(Buffer.from([0x80]), 0)).toThrow(/runs past the end/);
        const kv = decodeKeyValue(Buffer.from([0x0a, 0x01, 0x61, 0x10, 0x05, 0x18, 0x07, 0x20, 0x02, 0x2a, 0x02, 0x68, 0x69, 0x30, 0x09]));
        expect(kv).toMatchObject({ createRevision: 5, modRevision: 7, version: 2, lease: 9 });
        expect(kv.key.toString()).toBe("a");
        expect(kv.value.toString()).toBe("hi");
        expect(() => decodeKeyValue(Buffer.from([0x2a, 0x09, 0x68]))).toThrow(/runs past the end/);
    });

    test("revision keys", () => {
        const key = Buffer.alloc(18);
        key.writeBigUInt64BE(300n, 0);
        key[8] = 0x5f;
        key.writeBigUInt64BE(2n, 9);
        key[17] = 0x74;
        expect(parseRevisionKey(key)).toEqual({ main: 300, sub: 2, tombstone: true });
        expect(parseRevisionKey(key.subarray(0, 17))).toEqual({ main: 300, sub: 2, tombstone: false });
        expect(parseRevisionKey(key.subarray(0, 10))).toMatch(/10 bytes/);
    });

    test("Kubernetes keys", () => {
        expect(parseObjectKey("/registry/configmaps/ns/a")).toEqual({ resource: "configmaps", namespace: "ns", name: "a" });
        expect(parseObjectKey("/registry/namespaces/ns")).toEqual({ resource: "namespaces", name: "ns" });
        expect(parseObjectKey("/registry/example.com/widgets/ns/w")).toEqual({
            resource: "widgets.example.com",
            namespace: "ns",
            name: "w",
        });
        expect(parseObjectKey("/registry/example.com/clusterwidgets/w")).toEqual({ resource: "clusterwidgets.example.com", name: "w" });
        expect(parseObjectKey("/registry/services/endpoints/default/kubernetes")).toEqual({
            resource: "endpoints",
            namespace: "default",
            name: "kubernetes",
        });
        expect(parseObjectKey("/registry/minions/node-1")).toEqual({ resource: "nodes", name: "node-1" });
        expect(parseObjectKey("/other/configmaps/ns/a", "/other/")).toEqual({ resource: "configmaps", namespace: "ns", name: "a" });
        expect(parseObjectKey("/registry/configmaps/ns/a", "/other")).toBeUndefined();
        expect(parseObjectKey("/registry/a/b/c/d")).toBeUndefined();
        expect(resourceMatches("deployments", "deployments.apps")).toBe(true);
        expect(resourceMatches("widgets.example.com", "widgets.example.com")).toBe(true);
        expect(resourceMatches("widgets.example.com", "widgets")).toBe(false);
    });

    test("value encodings", () => {
        expect(classifyValue(Buffer.from(' {"a":1}'))).toEqual({ type: "json" });
        expect(classifyValue(Buffer.from("k8s:enc:kms:v2:my-kms:xxxx"))).toEqual({
            type: "encrypted",
            provider: "kms",
            providerVersion: "v2",
            keyName: "my-kms",
        });
        expect(classifyValue(Buffer.from("k8s\0\x0a\x05", "latin1"))).toMatchObject({
            type: "protobuf",
            problem: expect.stringMatching(/does not decode/),
        });
        expect(classifyValue(Buffer.from([1, 2, 3]))).toEqual({ type: "other" });
    });
});
