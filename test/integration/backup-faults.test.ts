// Faults on the real programs of an EtcdBackup run, each proving that the last good backup
// survives: the rendered pod runs in Docker (test/support/pod-to-docker.ts) against a real
// 3-member TLS etcd 3.5, storing to real MinIO, a real SFTP server and host directories.
//
// - a store that runs out of space mid-upload (a host directory on a small tmpfs; MinIO on a small
//   ext4 filesystem of its own): the run fails at step=upload, nothing new is sealed, the older
//   backup's bytes, sidecar and latest.json are unchanged, retention deletes nothing;
// - the backup pod killed (SIGKILL, as when its node dies) while the upload hangs half-way: nothing
//   sealed, nothing changed; what the killed run left behind is listed as unsealed and never
//   counted, and the next run seals;
// - one etcd member down: a backup given every endpoint, the stopped member first, seals through
//   the pod's etcd gateway (and holds a write made while the member was down); so does one whose
//   first member accepts connections but never answers (paused); control: with every member
//   stopped it fails at the snapshot within its timeout, the gateway naming each endpoint, the
//   store untouched; with one endpoint (no gateway), the stopped member fails the snapshot, named.
//
// Every test makes its own store (prefix, directory or server) and seeds its own sealed backup.
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EtcdBackupPlanInput, planEtcdBackup } from "../../src/backup/plan";
import { listBackups } from "../../src/backups";
import { dockerAvailable, freeTestSubnet, uniqueRunId } from "../harness/docker";
import { call, callJson } from "../harness/api";
import { run } from "../harness/exec";
import { ETCD_35_IMAGE, SSHD_IMAGE, UPLOADER_IMAGE, requireImages } from "../support/images";
import { PodRun, expectPodFailed } from "../support/pod-to-docker";
import { waitFor } from "../support/processes";
import {
    BackupFixture,
    StartedEtcd,
    HOST_STORE_PATH,
    MinioServer,
    SftpServer,
    expectSucceeded,
    reportedObject,
    restoreAndRead,
} from "../support/backup-fixture";
import { startFaultProxy } from "../support/fault-proxy";

jest.setTimeout(300_000);

const CLUSTER = "it-prod";
let workDir: string;
let fixture: BackupFixture;
let etcd: StartedEtcd;
let s3: MinioServer;
let sftp: SftpServer;
const mounts: string[] = [];

type Store = EtcdBackupPlanInput["storage"];
/** name → sha256 of every file in the cluster's directory of a store. */
type StoreState = Map<string, string>;

function sha256(data: Buffer): string {
    return createHash("sha256").update(data).digest("hex");
}

function localState(dir: string): StoreState {
    if (!fs.existsSync(dir)) return new Map();
    return new Map(fs.readdirSync(dir).map((name) => [name, sha256(fs.readFileSync(path.join(dir, name)))]));
}

async function s3State(server: MinioServer, prefix: string): Promise<StoreState> {
    const out = await server.rclone(["hashsum", "sha256", "--download", `minio:${server.bucket}/${prefix}/${CLUSTER}`]);
    return new Map(
        out
            .split("\n")
            .filter(Boolean)
            .map((line) => {
                const [hash, name] = line.split(/\s+/, 2) as [string, string];
                return [name, hash];
            }),
    );
}

/** The store still holds every file it held, byte for byte; nothing new is sealed and latest.json is the old one. Returns the names added. */
function expectKept(before: StoreState, after: StoreState): string[] {
    for (const [name, hash] of before) expect([name, after.get(name)]).toEqual([name, hash]);
    const added = [...after.keys()].filter((name) => !before.has(name));
    expect(added.filter((name) => name.endsWith(".sha256") || name === "latest.json")).toEqual([]);
    return added;
}

function s3Store(server: MinioServer, endpoint = server.endpoint): Store {
    return { s3: { endpoint, bucket: server.bucket, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey } };
}

/** Makes etcd's snapshot at least `bytes` larger, so that a fault after a few hundred kB is mid-upload. */
async function grow(tag: string, bytes: number): Promise<void> {
    for (let i = 0; i * 100_000 < bytes; i++)
        await etcd.etcdctl(["put", `/registry/configmaps/default/${tag}-${i}`, randomBytes(50_000).toString("hex")]);
}

/** A filesystem of `sizeMiB` mounted on a fresh directory: tmpfs, or ext4 on a loop device (an image file in workDir). */
async function smallFilesystem(kind: "tmpfs" | "ext4", sizeMiB: number): Promise<string> {
    const dir = fs.mkdtempSync(path.join(workDir, `${kind}-`));
    if (kind === "tmpfs") {
        await run("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}m,mode=0755`, "tmpfs", dir]);
    } else {
        const image = `${dir}.img`;
        fs.writeFileSync(image, "");
        fs.truncateSync(image, sizeMiB * 1024 * 1024);
        await run("mkfs.ext4", ["-q", "-F", "-m", "0", image]);
        await run("mount", ["-o", "loop", image, dir]);
    }
    mounts.push(dir);
    return dir;
}

/** Fills the filesystem of `dir` until `leaveBytes` are free (fallocate on ext4, written zeros on tmpfs). */
async function fillUntil(dir: string, leaveBytes: number): Promise<void> {
    const stat = fs.statfsSync(dir);
    const free = stat.bavail * stat.bsize;
    const fill = free - leaveBytes;
    if (fill <= 0) throw new Error(`${dir} has only ${free} bytes free, less than the ${leaveBytes} to leave`);
    const file = path.join(dir, "filler");
    await run("fallocate", ["-l", String(fill), file]).catch(() => fs.writeFileSync(file, Buffer.alloc(fill)));
    const left = fs.statfsSync(dir);
    console.log(`filled ${dir}: ${left.bavail * left.bsize} bytes free (asked ${leaveBytes})`);
}

async function containerRunning(name: string): Promise<boolean> {
    const inspect = await callJson<any>({ method: "GET", path: `/containers/${name}/json` }, [404]);
    return inspect?.State?.Running === true;
}

/** SIGKILL, as a node that dies does it: no TERM, no trap runs. */
async function kill(name: string): Promise<void> {
    await call({ method: "POST", path: `/containers/${name}/kill`, query: { signal: "KILL" } });
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE, UPLOADER_IMAGE, SSHD_IMAGE);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-faults-it-"));
    fixture = new BackupFixture(uniqueRunId("it-bfaults"), workDir);
    etcd = await fixture.startEtcd(await freeTestSubnet(), 3);
    s3 = await fixture.startMinio("etcd-backups");
    sftp = await fixture.startSftp();
}, 300_000);

afterAll(async () => {
    await fixture?.cleanup();
    for (const dir of mounts.reverse())
        await run("umount", [dir]).catch((error) => console.log(`umount ${dir}: ${(error as Error).message}`));
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe("store full mid-upload", () => {
    test("host directory on a 24 MiB tmpfs: the run fails at step=upload (no space left on device); the sealed backup, its sidecar, metadata and latest.json are unchanged, nothing sealed, nothing deleted", async () => {
        const storeDir = await smallFilesystem("tmpfs", 24);
        const dir = path.join(storeDir, "etcd-backup", CLUSTER);
        const plan = planEtcdBackup(fixture.input({ hostPath: { path: HOST_STORE_PATH } }, { keep: 1, compression: "none" }));
        const first = await fixture.runBackup(plan, { storeDir });
        expectSucceeded(first);
        const before = localState(dir);
        expect([...before.keys()].sort()).toHaveLength(4);

        // Less room than the next snapshot: the upload starts and runs out of space half-way.
        await grow("full-hostpath", 600_000);
        const snapshotSize = JSON.parse(fs.readFileSync(path.join(dir, reportedObject(first).replace(/\.db$/, ".json")), "utf8"))
            .snapshotSize as number;
        await fillUntil(storeDir, Math.floor(snapshotSize / 2));

        const started = Date.now();
        const result = await fixture.runBackup(plan, { storeDir });
        expectPodFailed(result);
        console.log(`hostPath store full: the run failed after ${Date.now() - started} ms`);
        expect(result.failedContainer).toBe("upload");
        expect(result.output).toMatch(/step=upload error="upload of etcd-snapshot-\S+ to file:\/\/\S+ failed"/);
        expect(result.output).toMatch(/no space left on device/);
        expect(result.output).not.toMatch(/step=(seal|marker|retention) /);
        const added = expectKept(before, localState(dir));
        console.log(`hostPath store full: left behind ${JSON.stringify(added)}`);
        expect(added.filter((name) => name.endsWith(".json"))).toEqual([]); // the metadata goes up after the object
    });

    test("MinIO on a 64 MiB ext4 filesystem: the run fails at step=upload (MinIO: storage full); the sealed backup, its sidecar and latest.json are unchanged, nothing sealed, nothing deleted", async () => {
        const dataDir = await smallFilesystem("ext4", 64);
        const full = await fixture.startMinio("etcd-backups", "127.0.0.1", path.join(dataDir, "data"));
        const plan = planEtcdBackup(
            fixture.input(s3Store(full), {
                keep: 1,
                compression: "none",
                prefix: "full",
                storeTimeouts: { connectSeconds: 2, ioSeconds: 10, retries: 1 },
            }),
        );
        const first = await fixture.runBackup(plan);
        expectSucceeded(first);
        const before = await s3State(full, "full");
        expect(before.size).toBe(4);

        await grow("full-minio", 600_000);
        const metadata = JSON.parse(
            await full.rclone(["cat", `minio:${full.bucket}/full/${CLUSTER}/${reportedObject(first).replace(/\.db$/, ".json")}`]),
        );
        await fillUntil(dataDir, Math.floor(metadata.snapshotSize / 2));

        const started = Date.now();
        const result = await fixture.runBackup(plan);
        expectPodFailed(result);
        console.log(`MinIO store full: the run failed after ${Date.now() - started} ms`);
        expect(result.failedContainer).toBe("upload");
        expect(result.output).toMatch(/step=upload error="upload of etcd-snapshot-\S+ to s3:\/\/etcd-backups\/full\/it-prod failed"/);
        // Below its free-space threshold MinIO refuses the part (507); past it, the disk does (500, with the cause).
        expect(result.output).toMatch(
            /XMinioStorageFull: Storage backend has reached its minimum free drive threshold|no space left on device/,
        );
        expect(result.output).not.toMatch(/step=(seal|marker|retention) /);
        const added = expectKept(before, await s3State(full, "full"));
        expect(added).toEqual([]);
        await full.stop();
    });
});

describe("backup pod killed mid-upload", () => {
    test.each<["s3" | "sftp"]>([["s3"], ["sftp"]])(
        "%s: SIGKILL while the upload hangs half-way: nothing sealed, the sealed backup unchanged; the leftover counts for nothing and the next run seals",
        async (kind) => {
            const prefix = `killed-${kind}`;
            const target = kind === "s3" ? Number(new URL(s3.endpoint).port) : sftp.port;
            const storeVia = (port: number): Store =>
                kind === "s3"
                    ? s3Store(s3, `http://127.0.0.1:${port}`)
                    : {
                          sftp: {
                              host: "127.0.0.1",
                              port,
                              user: "backup",
                              password: sftp.password,
                              knownHosts: sftp.knownHosts.replace(`[127.0.0.1]:${sftp.port} `, `[127.0.0.1]:${port} `),
                          },
                      };
            const state = () =>
                kind === "s3" ? s3State(s3, prefix) : Promise.resolve(localState(path.join(sftp.storeDir, prefix, CLUSTER)));
            const input = (store: Store) =>
                fixture.input(store, {
                    keep: 1,
                    compression: "none",
                    prefix,
                    storeTimeouts: { connectSeconds: 5, ioSeconds: 120, retries: 1 },
                });
            // What `etcd-recovery backups ls` reads (the SFTP server's directory is on this machine).
            const list = () =>
                listBackups({ store: kind === "s3" ? s3Store(s3) : { hostPath: { path: sftp.storeDir } }, cluster: CLUSTER, prefix });

            const first = await fixture.runBackup(planEtcdBackup(input(storeVia(target))));
            expectSucceeded(first);
            const sealed = reportedObject(first);
            const before = await state();
            expect(before.size).toBe(4);
            await grow(prefix, 800_000);

            const proxy = await startFaultProxy({ host: "127.0.0.1", port: target }, "hang", 200_000);
            let killedAfterMs = 0;
            const started = Date.now();
            try {
                const result = await fixture.runBackup(planEtcdBackup(input(storeVia(proxy.port))), {
                    whileRunning: async (pod) => {
                        // The sidecar's upload hangs past 200 kB; the main container waits for its marker.
                        await waitFor(
                            "the upload hangs half-way and the main container waits",
                            async () => proxy.tripped() && (await containerRunning(`${pod}-upload`)),
                            {
                                deadlineMs: 90_000,
                                describe: () => `forwarded ${proxy.forwarded()} bytes`,
                            },
                        );
                        await new Promise((r) => setTimeout(r, 1000));
                        killedAfterMs = Date.now() - started;
                        await kill(`${pod}-transfer`);
                        await kill(`${pod}-upload`);
                    },
                });
                expectPodFailed(result);
                expect(result.failedContainer).toBe("upload");
                expect(result.exitCode).toBe(137);
                expect(result.output).not.toMatch(/step=(seal|marker|retention) /);
            } finally {
                await proxy.close();
            }
            console.log(`${kind}: pod killed ${killedAfterMs} ms into the run, after ${proxy.forwarded()} bytes reached the store`);

            const added = expectKept(before, await state());
            const listing = await list();
            console.log(
                `${kind}: after the kill the store lists ${JSON.stringify(listing.backups.map((b) => [b.object, b.sealed ? "sealed" : "UNSEALED", b.sizeBytes]))}`,
            );
            // The killed run's object, if any is visible, is listed as unsealed and never the newest good one.
            expect(listing.backups.filter((b) => b.sealed).map((b) => b.object)).toEqual([sealed]);
            const leftovers = listing.backups.filter((b) => !b.sealed);
            expect(leftovers.map((b) => b.object)).toEqual(added.filter((n) => /\.db$/.test(n)));
            if (kind === "sftp") {
                // SFTP writes in place: the partial object stays (S3 keeps an unfinished multipart upload out of listings).
                expect(leftovers).toHaveLength(1);
                expect(leftovers[0]!.sizeBytes).toBeLessThan(200_000);
                expect(leftovers[0]!.sha256).toBe("none");
            } else {
                expect(added).toEqual([]);
            }

            // The next run (the Job's next pod, or the next schedule) succeeds and seals; retention
            // (keep 1) replaces the older sealed backup and leaves the unsealed leftover alone.
            await etcd.etcdctl(["put", "/registry/configmaps/default/after-kill", kind]);
            await new Promise((r) => setTimeout(r, 1100)); // names carry one-second timestamps
            const next = await fixture.runBackup(planEtcdBackup(input(storeVia(target))));
            expectSucceeded(next);
            const newest = reportedObject(next);
            const final = await list();
            expect(final.backups.filter((b) => b.sealed).map((b) => b.object)).toEqual([newest]);
            expect(final.backups.filter((b) => !b.sealed).map((b) => b.object)).toEqual(leftovers.map((b) => b.object));
            expect(next.logs.upload).toMatch(new RegExp(`step=retention deleted=${sealed.replace(/\./g, "\\.")}`));
            const local = path.join(workDir, `${prefix}-${newest}`);
            if (kind === "s3") await s3.rclone(["copyto", `minio:${s3.bucket}/${prefix}/${CLUSTER}/${newest}`, local]);
            else fs.copyFileSync(path.join(sftp.storeDir, prefix, CLUSTER, newest), local);
            expect(await restoreAndRead(workDir, local, "/registry/configmaps/default/after-kill")).toBe(kind);
        },
    );
});

describe("one etcd member down (3-member cluster)", () => {
    /** Where the backup with every endpoint keeps its objects; `offered` lists the stopped member first. */
    const failoverInput = (prefix: string, offered: string[], overrides: Partial<EtcdBackupPlanInput> = {}) =>
        fixture.input(s3Store(s3), { keep: 2, compression: "none", prefix, endpoints: offered, ...overrides });
    const portOf = (endpoint: string) => new URL(endpoint).port;
    /** A write with 2 of 3 members; retried while the two elect a leader (the one gone may have led). */
    const writeWhileDown = (key: string) =>
        waitFor(`put ${key} with 2 of 3 members`, async () => (await etcd.etcdctl(["put", key, "written-with-2-of-3"]), true), {
            deadlineMs: 60_000,
            intervalMs: 1000,
        });
    /** The gateway's line for a member it skipped because the connection was refused. */
    const skipped = (endpoint: string) =>
        new RegExp(`"deactivated endpoint","address":"127\\.0\\.0\\.1:${portOf(endpoint)}".*connect: connection refused`);

    test("all three endpoints, the stopped member first: the gateway skips it, the backup seals and holds a write made while the member was down; the metadata lists the endpoints offered", async () => {
        const prefix = "member-down";
        const offered = [etcd.endpoints[1]!, etcd.endpoints[0]!, etcd.endpoints[2]!];
        const plan = planEtcdBackup(failoverInput(prefix, offered));
        await etcd.live.stop(etcd.containers[1]!);
        try {
            await writeWhileDown("/registry/configmaps/default/while-down");
            const result = await fixture.runBackup(plan);
            expectSucceeded(result);
            console.log(`stopped member first: the run took ${result.durationMs} ms`);
            expect(result.logs["etcd-gateway"]).toMatch(skipped(offered[0]!));
            expect(result.logs.snapshot).toMatch(/Snapshot saved at \/var\/lib\/etcd-backup\/snapshot\.db/);
            expect(result.logs.upload).toMatch(/step=seal sealed=/);
            const object = reportedObject(result);
            const local = path.join(workDir, `${prefix}-${object}`);
            await s3.rclone(["copyto", `minio:${s3.bucket}/${prefix}/${CLUSTER}/${object}`, local]);
            expect(await restoreAndRead(workDir, local, "/registry/configmaps/default/while-down")).toBe("written-with-2-of-3");
            const metadata = JSON.parse(
                await s3.rclone(["cat", `minio:${s3.bucket}/${prefix}/${CLUSTER}/${object.replace(/\.db$/, ".json")}`]),
            );
            expect(metadata.endpoints).toEqual(offered);
            expect(metadata.endpoint).toBeUndefined(); // the gateway does not say which member served
            // The client key stays a file: in no container's command, env or log (the gateway has none of it).
            const keyBody = fs
                .readFileSync(path.join(etcd.certDir, "healthcheck-client.key"), "utf8")
                .split("\n")
                .filter((line) => line && !line.startsWith("-----"))[1]!;
            const visible = [...Object.values(result.logs)];
            for (const spec of result.plan.containers) {
                const inspect = await result.live.inspect(spec.name);
                visible.push(JSON.stringify([inspect.Config.Env, inspect.Config.Cmd, inspect.Config.Entrypoint, inspect.Args]));
                if (spec.name.endsWith("-etcd-gateway")) expect(inspect.Mounts).toEqual([]);
            }
            for (const text of visible) expect(text).not.toContain(keyBody);
        } finally {
            await etcd.live.start(etcd.containers[1]!);
            await etcd.live.waitHealthy(etcd.containers[1]!, 120_000);
        }
    });

    test("a member that accepts the connection but never answers (paused), offered first: the snapshot comes from the next member after gRPC's 20 s connect timeout", async () => {
        const prefix = "member-hangs";
        const offered = [etcd.endpoints[2]!, etcd.endpoints[0]!, etcd.endpoints[1]!];
        const plan = planEtcdBackup(failoverInput(prefix, offered, { snapshotTimeoutSeconds: 90, activeDeadlineSeconds: 600 }));
        const paused = etcd.live.containers[etcd.containers[2]!]!.id;
        await call({ method: "POST", path: `/containers/${paused}/pause` });
        try {
            await writeWhileDown("/registry/configmaps/default/while-paused");
            const result = await fixture.runBackup(plan);
            expectSucceeded(result);
            console.log(`paused member first: the run took ${result.durationMs} ms`);
            // The gateway's first pick is the first endpoint: the run waited out the paused member.
            expect(result.durationMs).toBeGreaterThan(15_000);
            // Nothing to skip: the paused member's port still accepts connections.
            expect(result.logs["etcd-gateway"]).not.toMatch(/deactivated endpoint/);
            const object = reportedObject(result);
            const local = path.join(workDir, `${prefix}-${object}`);
            await s3.rclone(["copyto", `minio:${s3.bucket}/${prefix}/${CLUSTER}/${object}`, local]);
            expect(await restoreAndRead(workDir, local, "/registry/configmaps/default/while-paused")).toBe("written-with-2-of-3");
        } finally {
            await call({ method: "POST", path: `/containers/${paused}/unpause` });
            await etcd.live.waitHealthy(etcd.containers[2]!, 120_000);
        }
    });

    test("control: every member stopped: the snapshot fails within snapshotTimeoutSeconds, the gateway's log names each endpoint refused, nothing is uploaded, the sealed backup and latest.json are unchanged", async () => {
        const prefix = "all-down";
        const offered = [...etcd.endpoints];
        const plan = planEtcdBackup(failoverInput(prefix, offered, { keep: 1, snapshotTimeoutSeconds: 10 }));
        expectSucceeded(await fixture.runBackup(plan));
        const before = await s3State(s3, prefix);
        expect(before.size).toBe(4);

        for (const member of etcd.containers) await etcd.live.stop(member);
        let result: PodRun;
        try {
            result = await fixture.runBackup(plan);
        } finally {
            await Promise.all(etcd.containers.map((member) => etcd.live.start(member)));
            for (const member of etcd.containers) await etcd.live.waitHealthy(member, 120_000);
        }
        expectPodFailed(result);
        console.log(`every member down: the run failed after ${result.durationMs} ms`);
        expect(result.failedContainer).toBe("snapshot");
        expect(result.output).toMatch(/context deadline exceeded/);
        for (const endpoint of offered) expect(result.output).toMatch(skipped(endpoint));
        // etcdctl gives up at --command-timeout=10s; the rest is starting and removing containers.
        expect(result.durationMs).toBeLessThan(40_000);
        expect(expectKept(before, await s3State(s3, prefix))).toEqual([]);
    });

    test("one endpoint, the stopped member: the snapshot fails naming it, nothing is uploaded, the sealed backup and latest.json are unchanged (no gateway with one endpoint)", async () => {
        const prefix = "endpoint-down";
        const plan = planEtcdBackup(
            fixture.input(s3Store(s3), {
                keep: 1,
                compression: "none",
                prefix,
                endpoints: [etcd.endpoints[1]!],
                snapshotTimeoutSeconds: 10,
            }),
        );
        expectSucceeded(await fixture.runBackup(plan));
        const before = await s3State(s3, prefix);
        expect(before.size).toBe(4);

        await etcd.live.stop(etcd.containers[1]!);
        try {
            const started = Date.now();
            const result = await fixture.runBackup(plan);
            expectPodFailed(result);
            console.log(`endpoint's member down: the run failed after ${Date.now() - started} ms`);
            expect(result.failedContainer).toBe("snapshot");
            expect(result.plan.containers.map((c) => c.name)).not.toContain(expect.stringMatching(/-etcd-gateway$/));
            const port = portOf(etcd.endpoints[1]!);
            expect(result.output).toMatch(new RegExp(`dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`));
            expect(result.output).toMatch(/context deadline exceeded/);
        } finally {
            await etcd.live.start(etcd.containers[1]!);
            await etcd.live.waitHealthy(etcd.containers[1]!, 120_000);
        }
        expect(expectKept(before, await s3State(s3, prefix))).toEqual([]);
        // Failover needs the gateway as a native sidecar, and each member once.
        expect(() => planEtcdBackup(fixture.input(s3Store(s3), { endpoints: etcd.endpoints, sidecarUpload: false }))).toThrow(
            /^endpoints: .* several endpoints need the etcd gateway as a native sidecar/,
        );
        expect(() => planEtcdBackup(fixture.input(s3Store(s3), { endpoints: [etcd.endpoints[0]!, etcd.endpoints[0]!] }))).toThrow(
            /^endpoints\[1\]: .* endpoints\[0\] is the same member/,
        );
    });
});
