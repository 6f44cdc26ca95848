// exportOnUp's pure parts: options refused before anything exists, file names, the kubeconfig's connection, new private files.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkExportOnUp, exportFileName, kubeconfigConnection, recoveryKubeconfig } from "../../src/recovery";
import { writeNewPrivateFile } from "../../src/recovery/export-on-up";

describe("checkExportOnUp", () => {
    test.each<[string, any, RegExp]>([
        ["no directory", { selections: [{ kind: "configmaps" }] }, /exportOnUp\.directory: missing — give the directory/],
        ["no selection", { directory: "/tmp/x", selections: [] }, /exportOnUp\.selections: \[\] — select at least one kind/],
        [
            "a name and a selector",
            { directory: "/tmp/x", selections: [{ kind: "secrets", name: "db", labelSelector: "app=x" }] },
            /selections\[0\]\.labelSelector: "app=x" — select by name or by label selector, not both/,
        ],
        [
            "an unknown owner-reference mode",
            { directory: "/tmp/x", selections: [{ kind: "pods" }], ownerReferences: "fix" },
            /exportOnUp\.ownerReferences: "fix" — use "drop" \(default\) or "keep"/,
        ],
    ])("%s is refused with the argument, the value and the fix", (_what, options, message) => {
        expect(() => checkExportOnUp(options)).toThrow(message);
    });

    test("a complete selection passes", () => {
        expect(() =>
            checkExportOnUp({
                directory: "/tmp/x",
                selections: [{ kind: "configmaps", namespace: "shop", name: "app-config" }],
                ownerReferences: "keep",
            }),
        ).not.toThrow();
    });
});

test("file names carry the environment and the UTC time to the millisecond", () => {
    expect(exportFileName("incident-7-recovery", new Date(Date.UTC(2026, 10, 23, 10, 15, 0, 42)))).toBe(
        "incident-7-recovery-export-20261123T101500.042Z.yaml",
    );
});

test("the connection is read back from a kubeconfig with embedded data; anything else is refused", () => {
    const kubeconfig = recoveryKubeconfig({
        name: "env",
        url: "https://172.30.1.20:6443",
        caCertPem: "CA PEM\n",
        certPem: "CERT PEM\n",
        keyPem: "KEY PEM\n",
    });
    expect(kubeconfigConnection(kubeconfig)).toEqual({
        apiUrl: "https://172.30.1.20:6443",
        tls: { caPem: "CA PEM\n", certPem: "CERT PEM\n", keyPem: "KEY PEM\n" },
    });
    expect(() => kubeconfigConnection("apiVersion: v1\nclusters: []\n")).toThrow(
        /kubeconfig: "\(secret\)" — give a kubeconfig with the server, certificate-authority-data and client certificate and key data embedded/,
    );
});

test("a new private file: 0600 in a 0700 directory, never replacing an existing one, no partial file left", () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "export-file-")), "exports");
    try {
        const file = writeNewPrivateFile(dir, "a.yaml", "first\n");
        expect(fs.readFileSync(file, "utf8")).toBe("first\n");
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
        expect(() => writeNewPrivateFile(dir, "a.yaml", "second\n")).toThrow(/EEXIST/);
        expect(fs.readFileSync(file, "utf8")).toBe("first\n");
        expect(fs.readdirSync(dir)).toEqual(["a.yaml"]);
    } finally {
        fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
});
