/** rclone configuration rendering (pure). The result lives only in a Kubernetes Secret. */
import { createCipheriv, createHash } from "crypto";

// rclone's fixed obscuring key (fs/config/obscure): obscuring is not encryption,
// it only keeps a password from being read over a shoulder. Secrecy comes from the Secret.
const RCLONE_OBSCURE_KEY = Buffer.from([
    0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d, 0x6b, 0xfd, 0x7c, 0x63, 0xc8, 0x86, 0xa9, 0x2b, 0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12,
    0x8a, 0xfb, 0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
]);

/**
 * `rclone obscure`, but with an IV derived from the password instead of a
 * random one, so the rendered Secret is stable and `pulumi preview` shows no diff.
 */
export function rcloneObscure(password: string): string {
    const iv = createHash("sha256").update("etcd-recovery/rclone-obscure\0").update(password, "utf8").digest().subarray(0, 16);
    const cipher = createCipheriv("aes-256-ctr", RCLONE_OBSCURE_KEY, iv);
    const sealed = Buffer.concat([iv, cipher.update(password, "utf8"), cipher.final()]);
    return sealed.toString("base64url");
}

/** One `[section]` of an rclone config file; values must be single lines. */
export function rcloneSection(name: string, options: Record<string, string | number | boolean | undefined>): string {
    const lines = [`[${name}]`];
    for (const [key, value] of Object.entries(options)) {
        if (value === undefined) continue;
        lines.push(`${key} = ${String(value)}`);
    }
    return `${lines.join("\n")}\n`;
}
