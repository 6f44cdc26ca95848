// Damaged snapshots never hang or crash the reader: the small etcd 3.5 snapshot cut at many lengths
// and with random bit flips (seeded, so a failure replays), each read end to end — meta, hash, every
// bucket, every revision decoded, ls, history, values — under a page-visit budget and a time bound.
// The only error allowed is SnapshotFormatError.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Snapshot, SnapshotFormatError, latestObjects, objectHistory, objectValues, snapshotStats } from "../../src/snapshot";

const FIXTURE = path.join(__dirname, "..", "fixtures", "snapshot", "small.db");
const ORIGINAL = fs.readFileSync(FIXTURE);
const PAGE = 4096;
const PAGES = Math.floor(ORIGINAL.length / PAGE);
const CASE_MS = 2_000;
/** SNAPSHOT_FUZZ_CASES / SNAPSHOT_FUZZ_SEED for a longer or another run. */
const FLIP_CASES = Number(process.env.SNAPSHOT_FUZZ_CASES ?? 300);
const FLIP_SEED = Number(process.env.SNAPSHOT_FUZZ_SEED ?? 2026);

/** mulberry32: small, seeded, good enough to spread flips over the file. */
function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "snapshot-fuzz-"))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Outcome = "read" | "refused";

/** Everything a user can ask of the file; returns how it ended, rethrows anything but SnapshotFormatError. */
function readAll(bytes: Buffer, label: string): Outcome {
    const file = path.join(tmp, "case.db");
    fs.writeFileSync(file, bytes);
    const start = Date.now();
    try {
        const s = Snapshot.open(file, { maxPageVisits: PAGES * 20 });
        try {
            s.checkHash();
            snapshotStats(s);
            for (const _ of s.revisions()) void _;
            latestObjects(s, {});
            objectHistory(s, { resources: ["configmaps"] });
            objectValues(s, { resources: ["configmaps"], name: "app-config", namespace: "shop" });
            s.etcdMeta();
        } finally {
            s.close();
        }
        return "read";
    } catch (error) {
        if (!(error instanceof SnapshotFormatError)) {
            throw new Error(`${label}: ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`);
        }
        expect(error.file).toBe(file);
        return "refused";
    } finally {
        const took = Date.now() - start;
        if (took > CASE_MS) throw new Error(`${label}: took ${took} ms (bound ${CASE_MS} ms)`);
    }
}

test("the intact fixture reads", () => {
    expect(readAll(ORIGINAL, "intact")).toBe("read");
});

test("cut at every page boundary, around them and at random lengths", () => {
    const random = prng(13);
    const lengths = new Set<number>([0, 1, 16, 100, 4095]);
    for (let p = 1; p <= PAGES; p++) for (const d of [-1, 0, 1, 32, 33]) lengths.add(p * PAGE + d);
    while (lengths.size < 400) lengths.add(Math.floor(random() * ORIGINAL.length));
    const read: number[] = [];
    let refused = 0;
    for (const length of [...lengths].filter((l) => l >= 0 && l < ORIGINAL.length)) {
        if (readAll(ORIGINAL.subarray(0, length), `cut at ${length}`) === "read") read.push(length);
        else refused++;
    }
    // Only the cut that leaves the whole database (the hash gone: a copied db) reads; a shorter file is refused.
    expect(read).toEqual([PAGES * PAGE]);
    expect(refused).toBeGreaterThan(300);
});

test(`random bit flips (${FLIP_CASES} cases, 1-8 flips each, seed ${FLIP_SEED})`, () => {
    const random = prng(FLIP_SEED);
    const outcomes: Record<Outcome, number> = { read: 0, refused: 0 };
    for (let i = 0; i < FLIP_CASES; i++) {
        const bytes = Buffer.from(ORIGINAL);
        const flips = 1 + Math.floor(random() * 8);
        const at: number[] = [];
        for (let f = 0; f < flips; f++) {
            // Half the flips aim at page headers and element tables, where damage steers the walk.
            const offset = random() < 0.5 ? Math.floor(random() * PAGES) * PAGE + Math.floor(random() * 128) : Math.floor(random() * ORIGINAL.length);
            bytes[offset] ^= 1 << Math.floor(random() * 8);
            at.push(offset);
        }
        outcomes[readAll(bytes, `case ${i}, flips at ${at.join(",")}`)]++;
    }
    // Both outcomes happen: flips in values read (the hash check says so), flips in the structure are refused.
    expect(outcomes.read).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
});

test("a page that points back at itself (a cycle) is refused, naming the page", () => {
    const bytes = Buffer.from(ORIGINAL);
    const s = Snapshot.open(FIXTURE);
    const ref = s.bolt.findBucket("key") as { kind: "page"; root: number };
    s.close();
    // The key bucket's root is a branch: make its first child its own root.
    const root = ref.root * PAGE;
    bytes.writeBigUInt64LE(BigInt(ref.root), root + 16 + 8);
    const file = path.join(tmp, "cycle.db");
    fs.writeFileSync(file, bytes);
    const cyclic = Snapshot.open(file);
    expect(() => [...cyclic.revisions()]).toThrow(new RegExp(`page ${ref.root}: refers to page ${ref.root} a second time`));
    cyclic.close();
});
