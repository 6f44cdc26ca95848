/**
 * Long-running helper processes for tests (etcd, kube-apiserver): started with
 * output in a log file, stopped with TERM then KILL, and killed when the test
 * process exits even if a test forgot to stop them.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

/** Cache of scripts/tools.sh (same rule as scripts/pulumi-env.sh). */
export function toolsCacheDir(): string {
    return process.env.ETCD_RECOVERY_CACHE ?? path.join(os.homedir(), ".cache", "etcd-recovery");
}

export function toolsBinDir(): string {
    return path.join(toolsCacheDir(), "bin");
}

/** Absolute path of a tool in `dir` (default: the tools bin dir); throws with the fix when absent. */
export function requireTool(name: string, dir: string = toolsBinDir()): string {
    const file = path.join(dir, name);
    try {
        fs.accessSync(file, fs.constants.X_OK);
    } catch {
        throw new Error(`${name} not found (or not executable) at ${file} — run: bash scripts/tools.sh`);
    }
    return file;
}

export interface ManagedProcess {
    readonly name: string;
    readonly pid: number;
    readonly logFile: string;
    /** Resolves with the exit code (or signal name) once the process has ended. */
    readonly exited: Promise<number | string>;
    isRunning(): boolean;
    /** The last lines of the log file, for error messages. */
    logTail(lines?: number): string;
    /** TERM, then KILL after `graceMs`. Resolves once the process is gone. */
    stop(graceMs?: number): Promise<void>;
}

export interface StartProcessOptions {
    name: string;
    command: string;
    args: string[];
    logFile: string;
    cwd?: string;
    env?: NodeJS.ProcessEnv;
}

const running = new Set<ChildProcess>();
const dirsToRemove = new Set<string>();
let exitHookInstalled = false;

/** Kill every process still running when Node exits (crash, failed test, jest worker shutdown). */
function installExitHook(): void {
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    process.on("exit", () => {
        for (const child of running) {
            try {
                child.kill("SIGKILL");
            } catch {
                // already gone
            }
        }
        for (const dir of dirsToRemove) fs.rmSync(dir, { recursive: true, force: true });
    });
}

/** Remove `dir` (or a file) when the test process exits, unless forgetDirOnExit() is called first. */
export function removeDirOnExit(dir: string): void {
    installExitHook();
    dirsToRemove.add(dir);
}

export function forgetDirOnExit(dir: string): void {
    dirsToRemove.delete(dir);
}

export function readLogTail(logFile: string, lines = 40): string {
    try {
        const text = fs.readFileSync(logFile, "utf8");
        return text.split("\n").slice(-lines).join("\n");
    } catch {
        return `(no log at ${logFile})`;
    }
}

export function startProcess(opts: StartProcessOptions): ManagedProcess {
    if (!fs.existsSync(opts.command)) {
        throw new Error(`${opts.name}: binary ${opts.command} not found — run: bash scripts/tools.sh`);
    }
    installExitHook();
    const logFd = fs.openSync(opts.logFile, "a", 0o600);
    const child = spawn(opts.command, opts.args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ["ignore", logFd, logFd],
    });
    fs.closeSync(logFd);
    if (child.pid === undefined) {
        throw new Error(`${opts.name}: could not start ${opts.command}`);
    }
    running.add(child);
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
        child.on("exit", (code, signal) => {
            done = true;
            running.delete(child);
            resolve(code ?? signal ?? "unknown");
        });
        child.on("error", (err) => {
            done = true;
            running.delete(child);
            fs.appendFileSync(opts.logFile, `\nspawn error: ${err.message}\n`);
            resolve("spawn-error");
        });
    });
    const pid = child.pid;
    return {
        name: opts.name,
        pid,
        logFile: opts.logFile,
        exited,
        isRunning: () => !done,
        logTail: (lines?: number) => readLogTail(opts.logFile, lines),
        async stop(graceMs = 10_000): Promise<void> {
            if (done) return;
            child.kill("SIGTERM");
            const timer = setTimeout(() => {
                if (!done) child.kill("SIGKILL");
            }, graceMs);
            await exited;
            clearTimeout(timer);
        },
    };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            if (address === null || typeof address === "string") {
                server.close();
                reject(new Error("could not read the port of a probe socket"));
                return;
            }
            const port = address.port;
            server.close(() => resolve(port));
        });
    });
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
    const ports = new Set<number>();
    while (ports.size < count) ports.add(await freePort());
    return [...ports];
}

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns true. Fails with `describe()` (e.g. a log tail)
 * when `deadlineMs` passes or when `aborted()` says waiting is pointless
 * (the process died).
 */
export async function waitFor(
    what: string,
    probe: () => Promise<boolean>,
    opts: { deadlineMs: number; intervalMs?: number; aborted?: () => string | undefined; describe?: () => string },
): Promise<void> {
    const start = Date.now();
    let lastError = "";
    for (;;) {
        const abortReason = opts.aborted?.();
        if (abortReason !== undefined) {
            throw new Error(`${what}: ${abortReason}\n${opts.describe?.() ?? ""}`);
        }
        try {
            if (await probe()) return;
        } catch (err) {
            lastError = err instanceof Error ? err.message : String(err);
        }
        if (Date.now() - start > opts.deadlineMs) {
            throw new Error(
                `${what}: not ready after ${opts.deadlineMs} ms (last error: ${lastError || "none"})\n${opts.describe?.() ?? ""}`,
            );
        }
        await sleep(opts.intervalMs ?? 250);
    }
}

/** The SSH identification line a server on host:port sends first ("SSH-2.0-…"): sshd is up and greeting. */
export function sshBanner(port: number, host = "127.0.0.1"): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = net.connect(port, host);
        socket.setTimeout(3000);
        socket.once("data", (data) => {
            socket.destroy();
            resolve(data.toString("utf8"));
        });
        socket.once("timeout", () => {
            socket.destroy();
            reject(new Error("timeout"));
        });
        socket.once("error", reject);
    });
}
