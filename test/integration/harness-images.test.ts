/**
 * The local images built by scripts/images.sh: exactly the files they should
 * hold (no shell where upstream has none), the versions their tags promise,
 * and an etcd 3.4 snapshot restored by etcd 3.5 (the version-difference case),
 * realized through the harness with a host directory bind-mounted in.
 * Needs: bash scripts/docker.sh && bash scripts/images.sh all
 */
import { promises as fs } from "fs";
import * as os from "os";
import * as path from "path";
import type { DockerPlan, HealthCheckSpec } from "../../src/docker/plan";
import { call, callJson } from "../harness/api";
import {
    dockerAvailable,
    realizePlan,
    RealizedPlan,
    removeByLabel,
    RUN_LABEL,
    TEST_LABEL,
    uniqueName,
    uniqueRunId,
} from "../harness/docker";
import { readTar } from "../harness/tar";
import { ETCD_34_IMAGE, ETCD_35_IMAGE, KUBE_APISERVER_IMAGE, requireImages, UPLOADER_IMAGE } from "../support/images";

/** This run's own label and names: cleanup removes only what this run created (another run may share the engine). */
const RUN = uniqueRunId("harness-test-images");
const ERH = uniqueName("erh");

/** Files the engine itself puts into every container. */
const ENGINE_FILES = new Set([".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/mtab"]);

/** Non-directory entries of an image's filesystem (from a created, never started container). */
async function imageFiles(image: string): Promise<string[]> {
    await requireImages(image);
    const created = await callJson<{ Id: string }>({
        method: "POST",
        path: "/containers/create",
        body: { Image: image, Labels: { [TEST_LABEL]: "1", [RUN_LABEL]: RUN }, HostConfig: { NetworkMode: "none" } },
    });
    try {
        const exported = await call({ method: "GET", path: `/containers/${created.Id}/export`, timeoutMs: 120_000 });
        return readTar(exported.body)
            .filter((entry) => entry.type !== "directory")
            .map((entry) => entry.name.replace(/^\.\//, ""))
            .filter((name) => !ENGINE_FILES.has(name) && !name.startsWith("dev/"))
            .sort();
    } finally {
        await call({ method: "DELETE", path: `/containers/${created.Id}`, query: { force: 1 } }, [404]);
    }
}

const BASE_FILES = ["etc/group", "etc/nsswitch.conf", "etc/passwd"];
const SHELLS = /(^|\/)(sh|bash|dash|ash|busybox)$/;

beforeAll(async () => {
    await dockerAvailable();
});

afterAll(async () => {
    await removeByLabel(RUN);
});

describe("image contents", () => {
    test("etcd 3.5 holds etcd, etcdctl, etcdutl and nothing else", async () => {
        expect(await imageFiles(ETCD_35_IMAGE)).toEqual([
            ...BASE_FILES,
            "usr/local/bin/etcd",
            "usr/local/bin/etcdctl",
            "usr/local/bin/etcdutl",
        ]);
    });

    test("etcd 3.4 holds etcd, etcdctl, their shared libraries and the loader, and no shell", async () => {
        const files = await imageFiles(ETCD_34_IMAGE);
        const programs = files.filter((name) => !/\.so(\.\d+)*$/.test(name));
        expect(programs).toEqual([...BASE_FILES, "usr/local/bin/etcd", "usr/local/bin/etcdctl"]);
        expect(files.some((name) => /(^|\/)libc\.so\.6$/.test(name))).toBe(true);
        expect(files.some((name) => /(^|\/)ld-linux[^/]*\.so\.\d+$/.test(name))).toBe(true);
        expect(files.filter((name) => SHELLS.test(name))).toEqual([]);
    });

    test("kube-apiserver holds kube-apiserver and nothing else", async () => {
        expect(await imageFiles(KUBE_APISERVER_IMAGE)).toEqual([...BASE_FILES, "usr/local/bin/kube-apiserver"]);
    });

    test("the uploader has rclone, a shell, busybox tools and CA certificates", async () => {
        const files = await imageFiles(UPLOADER_IMAGE);
        for (const name of [
            "usr/local/bin/rclone",
            "bin/busybox",
            "bin/sh",
            "bin/sha256sum",
            "bin/gzip",
            "bin/tar",
            "etc/ssl/certs/ca-certificates.crt",
        ]) {
            expect(files).toContain(name);
        }
    });
});

/** What a one-shot container of the image prints, realized through the harness. */
async function outputOf(image: string, command: string[], entrypoint?: string[]): Promise<string> {
    await requireImages(image);
    const realized = await realizePlan(
        {
            networks: [],
            volumes: [],
            containers: [
                {
                    name: `${ERH}-img-oneshot`,
                    image,
                    entrypoint,
                    command,
                    files: [],
                    mounts: [],
                    network: { none: true },
                    runToCompletion: true,
                },
            ],
        },
        { runId: RUN, timeoutMs: 60_000 },
    );
    try {
        const output = await realized.logs(`${ERH}-img-oneshot`);
        expect({ output, exitCode: realized.exitCodes[`${ERH}-img-oneshot`] }).toEqual({ output, exitCode: 0 });
        return output;
    } finally {
        await realized.destroy();
    }
}

describe("image versions", () => {
    test.each<[string, string, string[], RegExp]>([
        ["etcd 3.5", ETCD_35_IMAGE, ["etcd", "--version"], /etcd Version: 3\.5\.35\b/],
        ["etcd 3.4", ETCD_34_IMAGE, ["etcd", "--version"], /etcd Version: 3\.4\.23\b/],
        ["etcdctl 3.4", ETCD_34_IMAGE, ["etcdctl", "version"], /etcdctl version: 3\.4\.23\b/],
        ["kube-apiserver", KUBE_APISERVER_IMAGE, ["--version"], /Kubernetes v1\.34\.4\b/],
        // sha256("hello") through gzip and back: busybox's tools work.
        [
            "uploader",
            UPLOADER_IMAGE,
            ["sh", "-c", "rclone version && printf hello | gzip | gzip -d | sha256sum"],
            /rclone v1\.60\.1[\s\S]*2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824/,
        ],
    ])("%s", async (_what, image, command, expected) => {
        expect(await outputOf(image, command)).toMatch(expected);
    });
});

describe("an etcd 3.4 snapshot restored by etcd 3.5", () => {
    const health = (): HealthCheckSpec => ({
        test: ["CMD", "etcdctl", "--endpoints=http://127.0.0.1:2379", "endpoint", "health"],
        intervalSeconds: 1,
        timeoutSeconds: 5,
        retries: 30,
        startPeriodSeconds: 0,
    });
    let backupDir: string;
    const realizations: RealizedPlan[] = [];

    beforeAll(async () => {
        backupDir = await fs.mkdtemp(path.join(os.tmpdir(), "erh-backup-"));
    });

    afterAll(async () => {
        for (const realized of realizations) await realized.destroy();
        await fs.rm(backupDir, { recursive: true, force: true });
    });

    test("keeps the keys written by 3.4", async () => {
        await requireImages(ETCD_34_IMAGE, ETCD_35_IMAGE);
        const backup = { source: backupDir, target: "/backup", hostPath: true };
        const old: DockerPlan = {
            networks: [],
            volumes: [],
            containers: [
                {
                    name: `${ERH}-etcd34`,
                    image: ETCD_34_IMAGE,
                    command: ["etcd", "--name=old", "--data-dir=/var/lib/etcd/old"],
                    files: [],
                    mounts: [backup],
                    network: { none: true },
                    healthCheck: health(),
                },
            ],
        };
        const realizedOld = await realizePlan(old, { runId: RUN, timeoutMs: 60_000 });
        realizations.push(realizedOld);
        expect((await realizedOld.exec(`${ERH}-etcd34`, ["etcdctl", "put", "/registry/demo", "written by 3.4"])).exitCode).toBe(0);
        const save = await realizedOld.exec(`${ERH}-etcd34`, ["etcdctl", "snapshot", "save", "/backup/snapshot.db"]);
        expect(save.exitCode).toBe(0);
        await realizedOld.destroy();

        const restored: DockerPlan = {
            networks: [],
            volumes: [{ name: `${ERH}-restored` }],
            containers: [
                {
                    name: `${ERH}-restore`,
                    image: ETCD_35_IMAGE,
                    command: [
                        "etcdutl",
                        "snapshot",
                        "restore",
                        "/backup/snapshot.db",
                        "--name=new",
                        "--data-dir=/var/lib/etcd/new",
                        "--initial-cluster=new=http://localhost:2380",
                        "--initial-advertise-peer-urls=http://localhost:2380",
                    ],
                    files: [],
                    mounts: [
                        { ...backup, readOnly: true },
                        { source: `${ERH}-restored`, target: "/var/lib/etcd" },
                    ],
                    network: { none: true },
                    runToCompletion: true,
                },
                {
                    name: `${ERH}-etcd35`,
                    image: ETCD_35_IMAGE,
                    command: ["etcd", "--name=new", "--data-dir=/var/lib/etcd/new"],
                    files: [],
                    mounts: [{ source: `${ERH}-restored`, target: "/var/lib/etcd" }],
                    network: { none: true },
                    healthCheck: health(),
                    after: [`${ERH}-restore`],
                },
            ],
        };
        const realizedNew = await realizePlan(restored, { runId: RUN, timeoutMs: 60_000 });
        realizations.push(realizedNew);
        const get = await realizedNew.exec(`${ERH}-etcd35`, ["etcdctl", "get", "/registry/demo", "--print-value-only"]);
        expect(get.stdout.trim()).toBe("written by 3.4");
        const version = await realizedNew.exec(`${ERH}-etcd35`, ["etcdctl", "endpoint", "status", "-w", "json"]);
        expect(JSON.parse(version.stdout)[0].Status.version).toMatch(/^3\.5\./);
    });
});
