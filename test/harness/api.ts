/**
 * A minimal Docker Engine API client over the unix socket, with Node's http
 * module. The CLI cannot express everything a plan says (its --health-cmd is
 * shell form only, and our images have no shell), the API can.
 */
import * as http from "http";

/** The engine socket: DOCKER_HOST when it is unix://, else the default. */
export function engineSocket(dockerHost = process.env.DOCKER_HOST): string {
    if (!dockerHost) return "/var/run/docker.sock";
    if (dockerHost.startsWith("unix://")) return dockerHost.slice("unix://".length);
    throw new Error(`the test harness talks to a local engine over a unix socket; DOCKER_HOST=${dockerHost} is not one`);
}

export class DockerApiError extends Error {
    constructor(
        readonly status: number,
        readonly method: string,
        readonly path: string,
        message: string,
    ) {
        super(`Docker API ${method} ${path} -> ${status}: ${message}`);
        this.name = "DockerApiError";
    }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface ApiRequest {
    method: "GET" | "POST" | "PUT" | "DELETE" | "HEAD";
    path: string;
    query?: Query;
    /** A Buffer is sent as is (with `contentType`), anything else as JSON. */
    body?: unknown;
    contentType?: string;
    timeoutMs?: number;
}

export interface ApiResponse {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

function withQuery(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
        if (value !== undefined) params.set(key, String(value));
    }
    const text = params.toString();
    return text ? `${path}?${text}` : path;
}

function encodeBody(request: ApiRequest): { data?: Buffer; contentType?: string } {
    if (request.body === undefined) return {};
    if (Buffer.isBuffer(request.body)) return { data: request.body, contentType: request.contentType ?? "application/octet-stream" };
    return { data: Buffer.from(JSON.stringify(request.body)), contentType: "application/json" };
}

/** The engine's message for a failed call ({"message": "..."}), or the raw body. */
function errorMessage(body: Buffer): string {
    const text = body.toString("utf8");
    try {
        return (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
        return text.trim();
    }
}

/** One call; resolves with any status (callers decide which are errors). */
export function callRaw(request: ApiRequest, socketPath = engineSocket()): Promise<ApiResponse> {
    const path = withQuery(request.path, request.query);
    const { data, contentType } = encodeBody(request);
    return new Promise((resolve, reject) => {
        let settled = false;
        let writeError: Error | undefined;
        const fail = (error: Error): void => {
            if (settled) return;
            settled = true;
            reject(new Error(`Docker API ${request.method} ${path}: ${error.message}`));
        };
        const req = http.request(
            {
                socketPath,
                method: request.method,
                path,
                agent: false, // no pooled sockets that would keep jest alive
                headers: {
                    Host: "docker",
                    ...(contentType ? { "Content-Type": contentType } : {}),
                    "Content-Length": data?.length ?? 0,
                },
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (chunk: Buffer) => chunks.push(chunk));
                res.on("end", () => {
                    settled = true;
                    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
                });
                res.on("error", fail);
            },
        );
        const timeoutMs = request.timeoutMs ?? 60_000;
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on("error", (error: NodeJS.ErrnoException) => {
            // The engine may answer (an error, usually) and close before reading the whole body:
            // its answer says more than the broken pipe, so wait for it until the request closes.
            if (error.code === "EPIPE" || error.code === "ECONNRESET") writeError = error;
            else fail(error);
        });
        req.on("close", () => setImmediate(() => fail(writeError ?? new Error("connection closed without an answer"))));
        req.end(data);
    });
}

/** One call that must succeed (status < 400, or one of `allow`). */
export async function call(request: ApiRequest, allow: number[] = []): Promise<ApiResponse> {
    const response = await callRaw(request);
    if (response.status >= 400 && !allow.includes(response.status)) {
        throw new DockerApiError(response.status, request.method, request.path, errorMessage(response.body));
    }
    return response;
}

export async function callJson<T>(request: ApiRequest, allow: number[] = []): Promise<T> {
    const response = await call(request, allow);
    const text = response.body.toString("utf8");
    return (text ? JSON.parse(text) : undefined) as T;
}

export interface DemuxedOutput {
    stdout: Buffer;
    stderr: Buffer;
    /** Both streams in the order the engine sent them. */
    combined: Buffer;
}

/**
 * Splits Docker's multiplexed stream (non-TTY logs, attach, exec): frames of
 * an 8-byte header [stream, 0, 0, 0, size (big endian uint32)] and payload.
 */
export function demultiplex(data: Buffer): DemuxedOutput {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const combined: Buffer[] = [];
    let position = 0;
    while (position + 8 <= data.length) {
        const stream = data[position];
        // Not a frame (an engine error written raw): keep the rest as stdout.
        if (stream > 2 || data[position + 1] !== 0 || data[position + 2] !== 0 || data[position + 3] !== 0) break;
        const size = data.readUInt32BE(position + 4);
        const payload = data.subarray(position + 8, position + 8 + size);
        (stream === 2 ? stderr : stdout).push(payload);
        combined.push(payload);
        position += 8 + size;
    }
    if (position < data.length) {
        stdout.push(data.subarray(position));
        combined.push(data.subarray(position));
    }
    return { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), combined: Buffer.concat(combined) };
}

/**
 * POST that the engine answers by taking over the connection (exec start,
 * attach): sends `input` as standard input, closes our side, and collects
 * everything until the engine closes the stream.
 */
export function hijack(
    path: string,
    body: unknown,
    input: Buffer | undefined,
    timeoutMs: number,
    socketPath = engineSocket(),
): Promise<Buffer> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
        const req = http.request({
            socketPath,
            method: "POST",
            path,
            agent: false,
            headers: {
                Host: "docker",
                "Content-Type": "application/json",
                "Content-Length": data.length,
                Connection: "Upgrade",
                Upgrade: "tcp",
            },
        });
        const timer = setTimeout(
            () => req.destroy(new Error(`Docker API POST ${path}: stream not finished within ${timeoutMs} ms`)),
            timeoutMs,
        );
        const finish = (error: Error | undefined, output?: Buffer): void => {
            clearTimeout(timer);
            if (error) reject(error);
            else resolve(output ?? Buffer.alloc(0));
        };
        req.on("upgrade", (_res, socket, head: Buffer) => {
            const chunks: Buffer[] = [head];
            socket.on("data", (chunk: Buffer) => chunks.push(chunk));
            socket.on("end", () => finish(undefined, Buffer.concat(chunks)));
            socket.on("close", () => finish(undefined, Buffer.concat(chunks)));
            socket.on("error", (error: Error) => finish(error));
            // Half-closing our side is how the engine learns that stdin ended.
            if (input) socket.end(input);
        });
        // Engines that do not upgrade answer with a plain response: an error, or the raw stream.
        req.on("response", (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () => {
                const all = Buffer.concat(chunks);
                const status = res.statusCode ?? 0;
                if (status >= 400) finish(new DockerApiError(status, "POST", path, errorMessage(all)));
                else finish(undefined, all);
            });
        });
        req.on("error", (error) => finish(error));
        req.end(data);
    });
}
