// Damaged snapshots never hang or crash the reader: the small etcd 3.5 snapshot cut at many lengths
// and with random bit flips (seeded, so a failure replays), each read end to end — meta, hash, every
// bucket, every revision decoded, ls, history, values — under a page-visit budget and a time bound.
// The only error allowed is SnapshotFormatError.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Snapshot } from "../../src/snapshot";
import { Outcome, flippedCopies, prng, readAll } from "../fixtures/snapshot/fuzz-support";

const FIXTURE = path.join(__dirname, "..", "fixtures", "snapshot", "small.db");
const ORIGINAL = fs.readFileSync(FIXTURE);
const PAGE = 4096;
const PAGES = Math.floor(ORIGINAL.length / PAGE);
const CASE_MS = 2_000;
/** SNAPSHOT_FUZZ_CASES / SNAPSHOT_FUZZ_SEED for a longer or another run. */
const FLIP_CASES = Number(process.env.SNAPSHOT_FUZZ_CASES ?? 300);
const FLIP_SEED = Number(process.env.SNAPSHOT_FUZZ_SEED ?? 2026);

let tmp: string;
beforeAll(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "snapshot-fuzz-"))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function read(bytes: Buffer, label: string): Outcome {
    return readAll(bytes, path.join(tmp, "case.db"), label, { maxPageVisits: PAGES * 20, boundMs: CASE_MS });
}

test("the intact fixture reads", () => {
    expect(read(ORIGINAL, "intact")).toBe("read");
});

test("cut at every page boundary, around them and at random lengths", () => {
    const random = prng(13);
    const lengths = new Set<number>([0, 1, 16, 100, 4095]);
    for (let p = 1; p <= PAGES; p++) for (const d of [-1, 0, 1, 32, 33]) lengths.add(p * PAGE + d);
    while (lengths.size < 400) lengths.add(Math.floor(random() * ORIGINAL.length));
    const reads: number[] = [];
    let refused = 0;
    for (const length of [...lengths].filter((l) => l >= 0 && l < ORIGINAL.length)) {
        if (read(ORIGINAL.subarray(0, length), `cut at ${length}`) === "read") reads.push(length);
        else refused++;
    }
    // Only the cut that leaves the whole database (the hash gone: a copied db) reads; a shorter file is refused.
    expect(reads).toEqual([PAGES * PAGE]);
    expect(refused).toBeGreaterThan(300);
});

test(`random bit flips (${FLIP_CASES} cases, 1-8 flips each, seed ${FLIP_SEED})`, () => {
    const outcomes: Record<Outcome, number> = { read: 0, refused: 0 };
    for (const { bytes, label } of flippedCopies(ORIGINAL, PAGE, FLIP_CASES, FLIP_SEED)) outcomes[read(bytes, label)]++;
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
