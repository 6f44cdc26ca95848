// The etcd-recovery CLI as an installed package runs it: the compiled bin/
// (built as prepack builds it) in a plain node process, start-up included.
// Its peak RSS is reported by the process itself at exit through a --require'd
// hook, so the figure is the CLI's and nothing of ts-node's.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { run } from "../test/harness/exec";

const ROOT = path.resolve(__dirname, "..");
export const MEMORY_TARGET_MIB = 256;
let built = false;

export async function runInstalledCli(args: string[]): Promise<{ wallMs: number; maxRssMiB: number; stdout: string }> {
    if (!built) await run("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: ROOT, timeoutMs: 300_000 });
    built = true;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-rss-"));
    const hook = path.join(dir, "rss.js");
    fs.writeFileSync(hook, 'process.on("exit", () => process.stderr.write(`MAXRSS_KIB=${process.resourceUsage().maxRSS}\\n`));\n');
    try {
        const start = Date.now();
        return await new Promise((resolve, reject) => {
            const child = spawn(process.execPath, ["--require", hook, path.join(ROOT, "bin/cli/recovery.js"), ...args], {
                stdio: ["ignore", "pipe", "pipe"],
            });
            const stdout: Buffer[] = [];
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => stdout.push(d));
            child.stderr.on("data", (d: Buffer) => (stderr += d));
            child.on("error", reject);
            child.on("exit", (code) => {
                const kib = /MAXRSS_KIB=(\d+)/.exec(stderr)?.[1];
                if (code !== 0 || kib === undefined)
                    reject(new Error(`etcd-recovery ${args.join(" ")} exited ${code}: ${stderr.slice(-2000)}`));
                else resolve({ wallMs: Date.now() - start, maxRssMiB: Number(kib) / 1024, stdout: Buffer.concat(stdout).toString() });
            });
        });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
