/**
 * examples/restore under the real Pulumi engine: `pulumi preview` shows every
 * step on every node and runs nothing (the example's nodes do not exist, so
 * any attempt to connect would fail the preview).
 */
import * as path from "path";
import { OfflineStack, offlineStack, uniqueStackName } from "../support/pulumi";

jest.setTimeout(5 * 60_000);

const EXAMPLE_DIR = path.resolve(__dirname, "../../examples/restore");
const FAKE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-preview-only\n-----END OPENSSH PRIVATE KEY-----\n";

let stack: OfflineStack;

beforeAll(async () => {
    stack = await offlineStack({
        workDir: EXAMPLE_DIR,
        stackName: uniqueStackName("e2e-restore-preview"),
        config: { snapshotSha256: { value: "ab".repeat(32) }, sshPrivateKey: { value: FAKE_KEY, secret: true } },
    });
});

afterAll(async () => {
    if (stack) await stack.cleanup();
});

test.each([
    ["all-members", 29],
    ["quorum-lost", 29],
])("preview (%s) lists every step resource and connects to nothing", async (mode, steps) => {
    await stack.stack.setConfig("mode", { value: mode });
    const events: string[] = [];
    const preview = await stack.stack.preview({
        onEvent: (event) => {
            const urn = event.resourcePreEvent?.metadata.urn;
            if (
                urn &&
                event.resourcePreEvent?.metadata.op === "create" &&
                urn.includes("pulumi-nodejs:dynamic/etcd-recovery:RemoteCommand")
            )
                events.push(urn.split("::").pop()!);
        },
    });
    expect(preview.changeSummary).toEqual({ create: steps + 2 }); // + the stack and the component
    expect(events).toContain("restore-preflight-taco-m1");
    expect(events).toContain("restore-report");
    expect(events.some((e) => e.startsWith(mode === "quorum-lost" ? "restore-member-add-" : "restore-wait-healthy"))).toBe(true);
    expect(preview.stdout).not.toContain("not-a-real-key-preview-only");
});
