/**
 * Samples, from the Docker host's /proc, the command line and environment of
 * every process in some containers (their init process and all its
 * descendants, those in nested PID namespaces such as a node's static pods
 * included) while something runs: a process list on the node shows what is
 * in them, so no secret may be. Reading the host's /proc (no `docker exec`
 * per sample) lets it sample every few tens of milliseconds and catch
 * short-lived commands.
 */
import * as fs from "fs";
import { run } from "../harness/exec";

export interface ProcSamples {
    /** Passes over /proc. */
    passes: number;
    /** Every distinct command line seen (NULs as spaces). */
    cmdlines: Set<string>;
    /** Every distinct environment seen (NULs as newlines). */
    environs: Set<string>;
}

export interface ProcSampler {
    stop(): Promise<ProcSamples>;
}

function readText(file: string): string | undefined {
    try {
        return fs.readFileSync(file).toString("utf8");
    } catch {
        return undefined; // the process ended between readdir and read
    }
}

/** The parent of every process (from /proc/<pid>/stat: the field after the command's closing parenthesis and state). */
function parents(): Map<number, number> {
    const map = new Map<number, number>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        const stat = readText(`/proc/${entry}/stat`);
        if (stat === undefined) continue;
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        map.set(Number(entry), Number(fields[1]));
    }
    return map;
}

/**
 * Starts sampling the processes of `containers` (names or ids) every `intervalMs`. Throws at once,
 * saying why, when a container's init process is not visible in this /proc (the tests must run in
 * the Docker engine's PID namespace).
 */
export async function startProcSampler(containers: string[], intervalMs = 25): Promise<ProcSampler> {
    const roots = new Set<number>();
    for (const container of containers) {
        const pid = Number((await run("docker", ["inspect", "--format", "{{.State.Pid}}", container])).stdout.trim());
        if (!(pid > 0) || readText(`/proc/${pid}/cmdline`) === undefined) {
            throw new Error(
                `container ${container}: its init process (pid ${pid}) is not visible in /proc here; the process sampler reads the host's /proc and needs the Docker engine's PID namespace`,
            );
        }
        roots.add(pid);
    }
    return sampleProcesses([...roots], intervalMs);
}

/** Samples the processes `roots` and all their descendants every `intervalMs` (startProcSampler's loop, for any process tree). */
export function sampleProcesses(rootPids: number[], intervalMs = 25): ProcSampler {
    const roots = new Set(rootPids);
    const samples: ProcSamples = { passes: 0, cmdlines: new Set(), environs: new Set() };
    const pass = (): void => {
        const parent = parents();
        const inside = (pid: number): boolean => {
            for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 64; p = parent.get(p), depth++) {
                if (roots.has(p)) return true;
            }
            return false;
        };
        for (const pid of parent.keys()) {
            if (!inside(pid)) continue;
            const cmdline = readText(`/proc/${pid}/cmdline`);
            if (cmdline) samples.cmdlines.add(cmdline.replace(/\0+$/, "").replace(/\0/g, " "));
            const environ = readText(`/proc/${pid}/environ`);
            if (environ) samples.environs.add(environ.replace(/\0/g, "\n"));
        }
        samples.passes++;
    };
    let stopped = false;
    const loop = (async () => {
        while (!stopped) {
            pass();
            await new Promise((resolve) => setTimeout(resolve, intervalMs));
        }
    })();
    return {
        stop: async () => {
            stopped = true;
            await loop;
            return samples;
        },
    };
}

/**
 * The forms a PEM private key could take in a process list: its marker, every line of its base64
 * body, the body as one line, and the base64 of the whole PEM (a script that decodes it on the node).
 */
export function keyForms(pem: string): string[] {
    const body = pem
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "" && !line.startsWith("-----"));
    const lines = body.filter((line) => line.length >= 16);
    return ["PRIVATE KEY", ...lines, body.join(""), Buffer.from(pem).toString("base64").slice(0, 64)];
}

/** Each sampled command line or environment that holds one of `secrets`: which (index into secrets), and the text with the secret masked. */
export function leaks(samples: ProcSamples, secrets: string[]): { where: string; secret: number; text: string }[] {
    const found: { where: string; secret: number; text: string }[] = [];
    for (const [where, texts] of [
        ["cmdline", samples.cmdlines],
        ["environ", samples.environs],
    ] as const) {
        for (const text of texts) {
            secrets.forEach((secret, i) => {
                if (text.includes(secret)) found.push({ where, secret: i, text: text.split(secret).join("<secret>").slice(0, 300) });
            });
        }
    }
    return found;
}
