/** Runs programs with an argument vector, never through a shell. */
import { execFile } from "child_process";

export interface RunResult {
    stdout: string;
    stderr: string;
}

export interface RunOptions {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    /** Written to the program's standard input, which is then closed. */
    input?: Buffer | string;
}

/** Runs `file` with `args`; rejects with the command, exit code and stderr when it fails. */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            file,
            args,
            { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 256 * 1024 * 1024 },
            (error, stdout, stderr) => {
                if (error) {
                    const code = (error as NodeJS.ErrnoException & { code?: number | string }).code;
                    const how = error.killed ? `killed (${error.signal ?? "timeout"})` : `exit code ${code}`;
                    reject(new Error(`${file} ${args.join(" ")} failed: ${how}\n${String(stderr).slice(-4000)}`));
                    return;
                }
                resolve({ stdout: String(stdout), stderr: String(stderr) });
            },
        );
        // A program may exit without reading its input (EPIPE): its exit status, not the pipe, says how it went.
        child.stdin?.on("error", () => undefined);
        child.stdin?.end(options.input ?? "");
    });
}
