// A file copied from the deploying machine into a container carries its
// SHA-256, so a changed file at the same path (a newer snapshot) replaces the
// container instead of being silently ignored.
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { containerUploadArgs } from "../../src/docker/realize";
import { InputError } from "../../src/errors";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "docker-realize-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("a source file's upload has source, permissions and the file's SHA-256 as sourceHash; a change changes it", () => {
    const file = path.join(dir, "snapshot.db");
    const first = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    fs.writeFileSync(file, first);
    const upload = containerUploadArgs({ path: "/var/lib/etcd-recovery/snapshot.db", sourcePath: file, mode: 0o600 });
    expect(upload).toEqual({
        file: "/var/lib/etcd-recovery/snapshot.db",
        source: file,
        sourceHash: createHash("sha256").update(first).digest("hex"),
        permissions: "0600",
    });
    fs.appendFileSync(file, "x");
    expect(containerUploadArgs({ path: "/x", sourcePath: file, mode: 0o600 }).sourceHash).not.toBe(upload.sourceHash);
});

test("a missing source file is an InputError naming sourcePath, the path and the fix", () => {
    const missing = path.join(dir, "missing.db");
    expect(() => containerUploadArgs({ path: "/x", sourcePath: missing, mode: 0o600 })).toThrow(InputError);
    expect(() => containerUploadArgs({ path: "/x", sourcePath: missing, mode: 0o600 })).toThrow(
        /sourcePath.*missing\.db.*must exist on the machine that runs the deployment/s,
    );
});
