/**
 * The Docker harness against the real engine: a plan with an internal network,
 * static addresses, files with modes, a volume, exec-form health checks, a
 * published port, start order and clean-up, all on the shell-less etcd image.
 * Needs: bash scripts/docker.sh && bash scripts/images.sh etcd
 */
import * as http from "http";
import type { ContainerSpec, DockerPlan, HealthCheckSpec } from "../../src/docker/plan";
import { callJson, callRaw } from "../harness/api";
import {
    dockerAvailable,
    freeTestSubnet,
    hostIn,
    realizePlan,
    RealizedPlan,
    removeByLabel,
    RUN_LABEL,
    TEST_LABEL,
    uniqueName,
    uniqueRunId,
} from "../harness/docker";
import { ETCD_35_IMAGE, requireImages } from "../support/images";

/** This run's own labels, names and subnets: cleanup removes only what this run created (another run may share the engine). */
const RUN = uniqueRunId("harness-test-main");
const FAILING_RUN = uniqueRunId("harness-test-failing");
const ERH = uniqueName("erh");
let SUBNET: string;
let PUBLISHED_SUBNET: string;
let FAILING_SUBNET: string;
let A_IP: string;
let B_IP: string;

const HEALTH: HealthCheckSpec = {
    test: ["CMD", "etcdctl", "--endpoints=http://127.0.0.1:2379", "endpoint", "health"],
    intervalSeconds: 1,
    timeoutSeconds: 5,
    retries: 30,
    startPeriodSeconds: 0,
};

/** A plain-HTTP etcd member of the two-member cluster "a"/"b" on the internal network. */
function member(name: "a" | "b", ip: string, extra: Partial<ContainerSpec> = {}): ContainerSpec {
    return {
        name: `${ERH}-etcd-${name}`,
        image: ETCD_35_IMAGE,
        command: [
            "etcd",
            `--name=${name}`,
            `--data-dir=/var/lib/etcd/${name}`,
            "--listen-client-urls=http://0.0.0.0:2379",
            `--advertise-client-urls=http://${ip}:2379`,
            "--listen-peer-urls=http://0.0.0.0:2380",
            `--initial-advertise-peer-urls=http://${ip}:2380`,
            `--initial-cluster=a=http://${A_IP}:2380,b=http://${B_IP}:2380`,
            "--initial-cluster-token=erh",
        ],
        files: [],
        mounts: [],
        network: { name: `${ERH}-internal`, ipv4Address: ip },
        healthCheck: HEALTH,
        hostname: `etcd-${name}`,
        ...extra,
    };
}

function mainPlan(): DockerPlan {
    return {
        networks: [
            { name: `${ERH}-internal`, subnet: SUBNET, internal: true, labels: { purpose: "members" } },
            { name: `${ERH}-published`, subnet: PUBLISHED_SUBNET },
        ],
        volumes: [{ name: `${ERH}-data` }],
        containers: [
            // A one-shot as a non-root user; every member starts after it has finished.
            {
                name: `${ERH}-oneshot`,
                image: ETCD_35_IMAGE,
                command: ["etcdutl", "version"],
                user: "65534:65534",
                files: [{ path: "/etc/erh/owned.txt", content: "readable by root only\n", mode: 0o640 }],
                mounts: [],
                network: { none: true },
                runToCompletion: true,
            },
            member("a", A_IP, {
                files: [
                    { path: "/etc/erh/pki/member.key", content: "not a real key\n", mode: 0o600, secret: true },
                    { path: "/etc/erh/pki/ca.crt", content: "not a real certificate\n", mode: 0o644 },
                    { path: "/tmp/scratch.txt", content: "x", mode: 0o644 },
                ],
                mounts: [{ source: `${ERH}-data`, target: "/var/lib/etcd" }],
                env: { ETCD_LOG_LEVEL: "warn" },
                labels: { role: "member" },
                after: [`${ERH}-oneshot`],
            }),
            member("b", B_IP, { after: [`${ERH}-oneshot`] }),
            {
                name: `${ERH}-etcd-published`,
                image: ETCD_35_IMAGE,
                command: [
                    "etcd",
                    "--data-dir=/tmp/data",
                    "--listen-client-urls=http://0.0.0.0:2379",
                    "--advertise-client-urls=http://127.0.0.1:2379",
                ],
                files: [],
                mounts: [],
                network: { name: `${ERH}-published`, ipv4Address: hostIn(PUBLISHED_SUBNET, 20) },
                ports: [{ internal: 2379 }],
                healthCheck: HEALTH,
                restart: "unless-stopped",
                after: [`${ERH}-oneshot`],
            },
        ],
    };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { agent: false, timeout: 5_000 }, (res) => {
            let body = "";
            res.on("data", (chunk) => (body += chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
        req.on("error", reject);
    });
}

/** The engine's filter for a run's labelled objects. */
const runFilters = (runId: string) => JSON.stringify({ label: [`${TEST_LABEL}=1`, `${RUN_LABEL}=${runId}`] });

/** Names of a run's volumes, sorted. */
async function volumesOfRun(runId: string): Promise<string[]> {
    const listed = await callJson<{ Volumes: { Name: string }[] | null }>({
        method: "GET",
        path: "/volumes",
        query: { filters: runFilters(runId) },
    });
    return (listed.Volumes ?? []).map((v) => v.Name).sort();
}

/** What the engine still holds with a run's labels. */
async function leftovers(runId: string): Promise<{ containers: number; networks: number; volumes: number }> {
    const filters = runFilters(runId);
    const containers = await callJson<unknown[]>({ method: "GET", path: "/containers/json", query: { all: 1, filters } });
    const networks = await callJson<unknown[]>({ method: "GET", path: "/networks", query: { filters } });
    return { containers: containers.length, networks: networks.length, volumes: (await volumesOfRun(runId)).length };
}

const NOTHING = { containers: 0, networks: 0, volumes: 0 };

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(ETCD_35_IMAGE);
    [SUBNET, PUBLISHED_SUBNET, FAILING_SUBNET] = [await freeTestSubnet(), await freeTestSubnet(), await freeTestSubnet()];
    [A_IP, B_IP] = [hostIn(SUBNET, 10), hostIn(SUBNET, 11)];
});

afterAll(async () => {
    await removeByLabel(RUN);
    await removeByLabel(FAILING_RUN);
});

describe("a realized plan on the shell-less etcd 3.5 image", () => {
    let realized: RealizedPlan;

    beforeAll(async () => {
        realized = await realizePlan(mainPlan(), { runId: RUN, timeoutMs: 90_000 });
    }, 120_000);

    afterAll(async () => {
        await realized?.destroy();
    });

    test("members get their static addresses on the internal network and form a healthy cluster", async () => {
        expect(realized.containers[`${ERH}-etcd-a`].ipAddress).toBe(A_IP);
        expect(realized.containers[`${ERH}-etcd-b`].ipAddress).toBe(B_IP);
        for (const name of [`${ERH}-etcd-a`, `${ERH}-etcd-b`, `${ERH}-etcd-published`]) {
            const info = await realized.inspect(name);
            expect(info.State.Health.Status).toBe("healthy");
            expect(info.Config.Healthcheck.Test).toEqual(HEALTH.test);
            expect(info.Config.Healthcheck.Interval).toBe(1e9);
        }
        const members = await realized.exec(`${ERH}-etcd-b`, ["etcdctl", `--endpoints=http://${A_IP}:2379`, "member", "list"]);
        expect(members.exitCode).toBe(0);
        expect(members.stdout).toContain(`http://${A_IP}:2380`);
        expect(members.stdout).toContain(`http://${B_IP}:2380`);
    });

    test("the internal network is internal, has the subnet and the plan's labels", async () => {
        const network = await callJson<any>({ method: "GET", path: `/networks/${ERH}-internal` });
        expect(network.Internal).toBe(true);
        expect(network.IPAM.Config[0].Subnet).toBe(SUBNET);
        expect(network.Labels).toMatchObject({ purpose: "members", [TEST_LABEL]: "1", [RUN_LABEL]: RUN });
    });

    test("container settings: hostname, env, labels, volume mount, restart policy", async () => {
        const a = await realized.inspect(`${ERH}-etcd-a`);
        expect(a.Config.Hostname).toBe("etcd-a");
        expect(a.Config.Env).toContain("ETCD_LOG_LEVEL=warn");
        expect(a.Config.Labels).toMatchObject({ role: "member", [RUN_LABEL]: RUN });
        expect(a.Mounts).toEqual([
            expect.objectContaining({ Type: "volume", Name: `${ERH}-data`, Destination: "/var/lib/etcd", RW: true }),
        ]);
        const db = await realized.readFile(`${ERH}-etcd-a`, "/var/lib/etcd/a/member/snap/db");
        expect(db.content.length).toBeGreaterThan(0);
        const published = await realized.inspect(`${ERH}-etcd-published`);
        expect(published.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
    });

    test("files are in place with their modes; existing directories keep theirs", async () => {
        const key = await realized.readFile(`${ERH}-etcd-a`, "/etc/erh/pki/member.key");
        expect(key.mode).toBe(0o600);
        expect(key.uid).toBe(0);
        expect(key.content.toString()).toBe("not a real key\n");
        expect((await realized.readFile(`${ERH}-etcd-a`, "/etc/erh/pki/ca.crt")).mode).toBe(0o644);
        // /tmp is 1777 in the image; putting a file there must not reset it.
        const id = realized.containers[`${ERH}-etcd-a`].id;
        const stat = await callRaw({ method: "HEAD", path: `/containers/${id}/archive`, query: { path: "/tmp" } });
        const tmp = JSON.parse(Buffer.from(String(stat.headers["x-docker-container-path-stat"]), "base64").toString("utf8"));
        const GO_MODE_STICKY = 1 << 20;
        expect(tmp.mode & 0o777).toBe(0o777);
        expect(tmp.mode & GO_MODE_STICKY).toBe(GO_MODE_STICKY);
    });

    test("files are owned by root, as @pulumi/docker uploads are, whatever the container's user", async () => {
        const owned = await realized.readFile(`${ERH}-oneshot`, "/etc/erh/owned.txt");
        expect({ mode: owned.mode, uid: owned.uid, gid: owned.gid }).toEqual({ mode: 0o640, uid: 0, gid: 0 });
        expect((await realized.inspect(`${ERH}-oneshot`)).Config.User).toBe("65534:65534");
    });

    test("members start only after the one-shot container has finished", async () => {
        const oneshot = await realized.inspect(`${ERH}-oneshot`);
        expect(oneshot.State.ExitCode).toBe(0);
        expect(await realized.logs(`${ERH}-oneshot`)).toMatch(/etcdutl version: 3\.5\./);
        for (const name of [`${ERH}-etcd-a`, `${ERH}-etcd-b`, `${ERH}-etcd-published`]) {
            const started = Date.parse((await realized.inspect(name)).State.StartedAt);
            expect(started).toBeGreaterThanOrEqual(Date.parse(oneshot.State.FinishedAt));
        }
    });

    test("a published port on 127.0.0.1 is reachable from the host", async () => {
        const port = realized.containers[`${ERH}-etcd-published`].hostPorts[2379];
        expect(port).toBeGreaterThan(0);
        const info = await realized.inspect(`${ERH}-etcd-published`);
        expect(info.NetworkSettings.Ports["2379/tcp"][0].HostIp).toBe("127.0.0.1");
        const health = await httpGet(`http://127.0.0.1:${port}/health`);
        expect(health.status).toBe(200);
        expect(JSON.parse(health.body).health).toBe("true");
    });

    test("the host reaches members on the internal network by their static address", async () => {
        const health = await httpGet(`http://${A_IP}:2379/health`);
        expect(JSON.parse(health.body).health).toBe("true");
    });

    test("exec passes standard input and reports exit codes", async () => {
        const put = await realized.exec(`${ERH}-etcd-a`, ["etcdctl", "put", "from-stdin"], { input: Buffer.from("hello from stdin") });
        expect(put).toMatchObject({ exitCode: 0, stdout: "OK\n" });
        const get = await realized.exec(`${ERH}-etcd-b`, [
            "etcdctl",
            `--endpoints=http://${B_IP}:2379`,
            "get",
            "from-stdin",
            "--print-value-only",
        ]);
        expect(get.stdout.trim()).toBe("hello from stdin");
        const missing = await realized.exec(`${ERH}-etcd-a`, ["etcdctl", "get", "--no-such-flag"]);
        expect(missing.exitCode).not.toBe(0);
        expect(missing.stderr).toMatch(/unknown flag/);
    });

    test("the etcd 3.5 image has no shell", async () => {
        for (const shell of ["sh", "/bin/sh", "/bin/bash", "busybox"]) {
            const result = await realized.exec(`${ERH}-etcd-a`, [shell, "-c", "true"]);
            // 126/127: the engine could not start the program at all.
            expect([126, 127]).toContain(result.exitCode);
            expect(result.stdout + result.stderr).toMatch(/executable file not found|no such file or directory/);
        }
    });

    test("stop and start keep the address and bring the member back to healthy", async () => {
        await realized.stop(`${ERH}-etcd-b`);
        expect((await realized.inspect(`${ERH}-etcd-b`)).State.Running).toBe(false);
        await realized.start(`${ERH}-etcd-b`);
        await realized.waitHealthy(`${ERH}-etcd-b`, 60_000);
        expect(realized.containers[`${ERH}-etcd-b`].ipAddress).toBe(B_IP);
    });

    test("destroy leaves nothing behind and can be repeated", async () => {
        await realized.destroy();
        expect(await leftovers(RUN)).toEqual(NOTHING);
        await realized.destroy();
    });
});

describe("a failing run-to-completion container", () => {
    const failingPlan = (): DockerPlan => ({
        networks: [{ name: `${ERH}-failing`, subnet: FAILING_SUBNET, internal: true }],
        volumes: [{ name: `${ERH}-failing-data` }],
        containers: [
            {
                name: `${ERH}-failing-oneshot`,
                image: ETCD_35_IMAGE,
                command: ["etcdutl", "snapshot", "status", "/data/missing.db"],
                files: [{ path: "/etc/erh/note", content: "x", mode: 0o600 }],
                mounts: [{ source: `${ERH}-failing-data`, target: "/data" }],
                network: { name: `${ERH}-failing`, ipv4Address: hostIn(FAILING_SUBNET, 5) },
                runToCompletion: true,
            },
            {
                name: `${ERH}-failing-after`,
                image: ETCD_35_IMAGE,
                command: ["etcd", "--data-dir=/tmp/data"],
                files: [],
                mounts: [],
                network: { name: `${ERH}-failing` },
                after: [`${ERH}-failing-oneshot`],
            },
        ],
    });

    test("is only recorded, as by the provider, but the container after it is never created: realize throws with its logs and leaves nothing behind", async () => {
        await expect(realizePlan(failingPlan(), { runId: FAILING_RUN, timeoutMs: 60_000 })).rejects.toThrow(
            new RegExp(
                `${ERH}-failing-after was not started: ${ERH}-failing-oneshot exited with code 1[\\s\\S]*last log lines of ${ERH}-failing-oneshot[\\s\\S]*missing\\.db`,
            ),
        );
        expect(await leftovers(FAILING_RUN)).toEqual(NOTHING);
    });
});

describe("update() as the engine does it: new names are created beside, removed ones deleted last and only after success", () => {
    const UPDATE_RUN = uniqueRunId("harness-test-update");
    const check = (version: string) => `${ERH}-upd-check-${version}`;
    const serve = `${ERH}-upd-serve`;
    /** A one-shot bound to `version` by name (and its volume), and a long-running container gated on it. */
    const versionPlan = (version: string, checkPasses: boolean, checkCommand?: string[]): DockerPlan => ({
        networks: [],
        volumes: [{ name: `${ERH}-upd-data-${version}` }],
        containers: [
            {
                name: check(version),
                image: ETCD_35_IMAGE,
                command: checkCommand ?? (checkPasses ? ["etcdutl", "version"] : ["etcdutl", "snapshot", "status", "/data/missing.db"]),
                files: [],
                mounts: [{ source: `${ERH}-upd-data-${version}`, target: "/data" }],
                network: { none: true },
                runToCompletion: true,
            },
            {
                name: serve,
                image: ETCD_35_IMAGE,
                command: ["etcd", "--data-dir=/tmp/data"],
                files: [],
                mounts: [],
                network: { none: true },
                labels: { version },
                after: [check(version)],
            },
        ],
    });
    const volumes = () => volumesOfRun(UPDATE_RUN);
    let live: RealizedPlan | undefined;

    afterAll(async () => {
        await live?.destroy();
        await removeByLabel(UPDATE_RUN);
    });

    test("a failed update leaves what ran running and the removed one-shot in place; the next good one replaces, then deletes both old ones last", async () => {
        live = await realizePlan(versionPlan("a", true), { runId: UPDATE_RUN, timeoutMs: 60_000 });
        const serving = live.containers[serve].id;

        // The new one-shot fails: the gated container is not touched (no replacement was due before the gate).
        await expect(live.update(versionPlan("b", false))).rejects.toThrow(
            new RegExp(`${serve} was not started: ${check("b")} exited with code 1`),
        );
        expect(live.containers[serve].id).toBe(serving);
        expect((await live.inspect(serve)).State.Running).toBe(true);
        // Nothing was deleted: a's one-shot and volume are still there, b's are left beside them.
        expect(live.exitCodes).toEqual({ [check("a")]: 0, [check("b")]: 1 });
        expect(await volumes()).toEqual([`${ERH}-upd-data-a`, `${ERH}-upd-data-b`]);

        const report = await live.update(versionPlan("c", true));
        expect(report.created).toEqual([check("c")]);
        expect(report.replaced).toEqual([serve]);
        expect(report.deleted).toEqual([check("b"), check("a")]);
        expect(report.steps).toEqual([
            `create ${check("c")}`,
            `delete ${serve}`,
            `create ${serve}`,
            `delete ${check("b")}`,
            `delete ${check("a")}`,
        ]);
        expect(Object.keys(live.exitCodes)).toEqual([check("c")]);
        expect(await volumes()).toEqual([`${ERH}-upd-data-c`]);
    });

    test("control: a one-shot of the same name whose inputs changed is replaced delete-before-replace, and the container gated on it is deleted first", async () => {
        const report = await live!.update(versionPlan("c", true, ["etcdutl", "version", "--help"]));
        expect(report.replaced.sort()).toEqual([check("c"), serve].sort());
        expect(report.steps).toEqual([`delete ${serve}`, `delete ${check("c")}`, `create ${check("c")}`, `create ${serve}`]);
        await live!.destroy();
        expect(await leftovers(UPDATE_RUN)).toEqual(NOTHING);
    });
});

describe("update() with the provider's wait for health (wait: true, waitTimeout)", () => {
    const WAIT_RUN = uniqueRunId("harness-test-wait");
    const check = (version: string) => `${ERH}-wait-check-${version}`;
    const serve = `${ERH}-wait-serve`;
    /** A one-shot bound to `version`, and etcd gated on it whose health check passes only if `healthy`. */
    const versionPlan = (version: string, healthy: boolean): DockerPlan => ({
        networks: [],
        volumes: [{ name: `${ERH}-wait-data-${version}` }],
        containers: [
            {
                name: check(version),
                image: ETCD_35_IMAGE,
                command: ["etcdutl", "version"],
                files: [],
                mounts: [{ source: `${ERH}-wait-data-${version}`, target: "/data" }],
                network: { none: true },
                runToCompletion: true,
            },
            {
                name: serve,
                image: ETCD_35_IMAGE,
                command: ["etcd", "--data-dir=/tmp/data"],
                files: [],
                mounts: [],
                network: { none: true },
                labels: { version },
                // Port 1 never answers: the check never passes, as with an etcd that crash-loops.
                healthCheck: {
                    ...HEALTH,
                    test: [
                        ...HEALTH.test.slice(0, 2),
                        healthy ? "--endpoints=http://127.0.0.1:2379" : "--endpoints=http://127.0.0.1:1",
                        "endpoint",
                        "health",
                    ],
                },
                waitHealthySeconds: 5,
                restart: "unless-stopped",
                after: [check(version)],
            },
        ],
    });
    const volumes = () => volumesOfRun(WAIT_RUN);
    let live: RealizedPlan | undefined;

    afterAll(async () => {
        await live?.destroy();
        await removeByLabel(WAIT_RUN);
    });

    test("not healthy in time fails the update with the provider's error and leaves the container; nothing is deleted; the same inputs again are an empty update (no second wait); new inputs replace it", async () => {
        live = await realizePlan(versionPlan("a", true), { runId: WAIT_RUN, timeoutMs: 60_000 });

        await expect(live.update(versionPlan("b", false), { timeoutMs: 60_000 })).rejects.toThrow(
            new RegExp(`creating ${serve}: container failed to be in healthy state`),
        );
        const unhealthy = live.containers[serve].id;
        expect((await live.inspect(serve)).Config.Labels.version).toBe("b");
        expect(live.exitCodes).toEqual({ [check("a")]: 0, [check("b")]: 0 });
        expect(await volumes()).toEqual([`${ERH}-wait-data-a`, `${ERH}-wait-data-b`]);

        // The same plan again: the engine's step for the container with the init error is an empty update, the
        // provider does not wait again, so the engine succeeds and deletes a's leftovers; only the harness's own
        // health wait after the update notices.
        await expect(live.update(versionPlan("b", false), { timeoutMs: 10_000 })).rejects.toThrow(
            new RegExp(`container ${serve} is not healthy in time`),
        );
        expect(live.containers[serve].id).toBe(unhealthy);
        expect(await volumes()).toEqual([`${ERH}-wait-data-b`]);

        // Control: a healthy one replaces it and the update succeeds.
        const report = await live.update(versionPlan("c", true), { timeoutMs: 60_000 });
        expect(report.replaced).toEqual([serve]);
        expect(live.containers[serve].id).not.toBe(unhealthy);
        await live.destroy();
        expect(await leftovers(WAIT_RUN)).toEqual(NOTHING);
    });
});
