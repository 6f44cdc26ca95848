/**
 * runScript (what every ControlPlaneRestore step runs on) against a real sshd
 * in a node container: the script goes to `sh -eu -s`, exit codes and both
 * streams come back, the pinned host key is enforced, password and key logins
 * work, and an unreachable node or a slow script fail with what happened.
 */
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

import { dockerAvailable, hostIn, realizePlan, RealizedPlan, removeByLabel, withFreeSubnet } from "../harness/docker";
import { NODE_IMAGE, requireImages } from "../support/images";
import { runScript, SshConnection } from "../../src/restore/ssh";

jest.setTimeout(5 * 60_000);

const runId = `restore-ssh-${Date.now().toString(36)}-${crypto.randomBytes(2).toString("hex")}`;
/** On a free test /24 (outside Docker's default pools), set when the node starts. */
let ADDRESS = "";
let UNREACHABLE = "";
const PASSWORD = `pw-${crypto.randomBytes(8).toString("hex")}`;

let tmp: string;
let realized: RealizedPlan;
let connection: SshConnection;

function sshKeygen(file: string): { privateKey: string; publicKey: string } {
    const result = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file], { encoding: "utf8" });
    if (result.error || result.status !== 0)
        throw new Error(`ssh-keygen failed (${result.error?.message ?? result.stderr}): apt-get install openssh-client`);
    return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

/** The node: sshd with a host key, root's authorized key and user ops with a password, on `subnet`. */
function realizeNode(subnet: string, clientPublicKey: string, hostPrivateKey: string, passwordHash: string): Promise<RealizedPlan> {
    return realizePlan(
        {
            networks: [{ name: `${runId}-net`, subnet }],
            volumes: [],
            containers: [
                {
                    name: `${runId}-node`,
                    image: NODE_IMAGE,
                    command: [
                        "/bin/sh",
                        "-c",
                        "echo 'ops:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd && echo \"ops:$(cat /etc/ops.hash):19000:0:99999:7:::\" >> /etc/shadow && exec /usr/sbin/sshd -D -e",
                    ],
                    network: { name: `${runId}-net`, ipv4Address: ADDRESS },
                    mounts: [],
                    files: [
                        {
                            path: "/etc/ssh/sshd_config",
                            content:
                                "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\nPidFile /run/sshd.pid\n",
                            mode: 0o644,
                        },
                        { path: "/etc/ssh/ssh_host_ed25519_key", content: hostPrivateKey, mode: 0o600, secret: true },
                        { path: "/root/.ssh/authorized_keys", content: `${clientPublicKey}\n`, mode: 0o600 },
                        { path: "/etc/ops.hash", content: passwordHash, mode: 0o600, secret: true },
                    ],
                },
            ],
        },
        { runId, waitHealthy: false },
    );
}

beforeAll(async () => {
    await dockerAvailable();
    await requireImages(NODE_IMAGE);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "it-restore-ssh-"));
    const client = sshKeygen(path.join(tmp, "client"));
    const host = sshKeygen(path.join(tmp, "host"));
    // A throw-away password for user `ops`, hashed on this machine (the node image has no passwd tool).
    const hash = spawnSync("openssl", ["passwd", "-6", "-stdin"], { input: PASSWORD, encoding: "utf8" });
    if (hash.status !== 0) throw new Error(`openssl passwd failed: ${hash.stderr} (apt-get install openssl)`);
    realized = await withFreeSubnet((subnet) => {
        [ADDRESS, UNREACHABLE] = [hostIn(subnet, 10), hostIn(subnet, 99)];
        return realizeNode(subnet, client.publicKey, host.privateKey, hash.stdout.trim());
    });
    connection = { host: ADDRESS, privateKey: client.privateKey, hostKey: host.publicKey };
    // sshd needs a moment after the container starts.
    const deadline = Date.now() + 60_000;
    for (;;) {
        try {
            await runScript(connection, "true", 10_000);
            break;
        } catch (error) {
            if (Date.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 500));
        }
    }
});

afterAll(async () => {
    await removeByLabel(runId);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("the script runs under sh -eu from stdin: exit code, stdout and stderr come back; the first failing line stops it", async () => {
    const result = await runScript(connection, "echo out-$(id -un)\necho err >&2\nfalse\necho never", 30_000);
    expect(result).toEqual({ exitCode: 1, stdout: "out-root\n", stderr: "err\n" });
    const unset = await runScript(connection, 'echo "$NOT_SET"', 30_000);
    expect(unset.exitCode).not.toBe(0);
    expect(unset.stderr).toMatch(/NOT_SET/);
});

test("quotes, $ and newlines need no escaping: the script is not a command line", async () => {
    const result = await runScript(connection, `x='a "b" $c'\nprintf '%s\\n' "$x"`, 30_000);
    expect(result).toEqual({ exitCode: 0, stdout: 'a "b" $c\n', stderr: "" });
});

test("a host key other than the pinned one stops the connection before anything runs", async () => {
    const other = sshKeygen(path.join(tmp, "other-host")).publicKey;
    await expect(runScript({ ...connection, hostKey: other }, "touch /tmp/should-not-exist", 30_000)).rejects.toThrow(
        /host key is not the pinned hostKey/,
    );
    expect((await realized.exec(`${runId}-node`, ["test", "-e", "/tmp/should-not-exist"])).exitCode).toBe(1);
});

test("password login works; a wrong password fails as an authentication error", async () => {
    const ops = { host: ADDRESS, user: "ops", password: PASSWORD, hostKey: connection.hostKey };
    expect((await runScript(ops, "id -un", 30_000)).stdout).toBe("ops\n");
    await expect(runScript({ ...ops, password: "wrong" }, "true", 30_000)).rejects.toThrow(/ops@.*authentication methods failed/i);
});

test("an unreachable address and a script past its deadline fail with what happened", async () => {
    await expect(runScript({ ...connection, host: UNREACHABLE, readyTimeoutMs: 10_000 }, "true", 30_000)).rejects.toThrow(
        new RegExp(`root@${UNREACHABLE.replace(/\./g, "\\.")}:22: ((connect|write) EHOSTUNREACH|Timed out while waiting for handshake)`),
    );
    await expect(runScript(connection, "sleep 30", 2_000)).rejects.toThrow(/did not finish within 2s/);
});
