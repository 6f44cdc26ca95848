/**
 * Waiting for the recovery kube-apiserver, and saying why when it will never
 * be ready. Its most common reason is the encryption key: a restored
 * apiserver without the original EncryptionConfiguration cannot list the
 * encrypted resources, so its informers never sync and /readyz stays red.
 */
import * as https from "https";

/** kube-apiserver's words when stored data is encrypted and it has no (matching) key. */
export const ENCRYPTED_DATA_ERROR =
    /identity transformer tried to read encrypted data|no matching prefix found|failed to decrypt|unable to transform key/i;

export const MISSING_ENCRYPTION_CONFIG_ADVICE =
    "Provide the original cluster's EncryptionConfiguration (the file its kube-apiserver's --encryption-provider-config names, with the same keys) " +
    "as the environment's encryption config.";

export class RecoveryApiError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RecoveryApiError";
    }
}

/** An explanation when the apiserver's log shows encrypted data it cannot read; undefined otherwise. */
export function explainKubeApiserverLog(log: string): string | undefined {
    const line = log.split("\n").find((l) => ENCRYPTED_DATA_ERROR.test(l));
    if (!line) return undefined;
    const key = /unable to transform key \\?"([^"\\]+)\\?"/.exec(line)?.[1];
    const kind = /failed to list \*\w+\.(\w+)/.exec(line)?.[1];
    const resource = kind ? `${kind} objects` : "resources";
    return (
        `the snapshot holds ${resource} encrypted at rest${key ? ` (e.g. ${key})` : ""} and the recovery kube-apiserver cannot decrypt them, ` +
        `so it cannot become ready and those objects cannot be read. ${MISSING_ENCRYPTION_CONFIG_ADVICE} kube-apiserver said: ${line.trim()}`
    );
}

export interface TlsClient {
    caPem: string;
    certPem: string;
    keyPem: string;
}

function get(url: string, tls: TlsClient): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.get(url, { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: 5000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => (body += chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error(`timeout on ${url}`)));
        req.on("error", reject);
    });
}

export interface WaitReadyOptions {
    apiUrl: string;
    tls: TlsClient;
    /** The apiserver container's log, read when it is not ready yet. */
    readLog: () => Promise<string>;
    timeoutMs?: number;
    intervalMs?: number;
}

/** Resolves when /readyz says ok; rejects early, with the reason, when the log shows it never will. */
export async function waitForRecoveryApi(options: WaitReadyOptions): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    // Short polls: every 100 ms of waiting is time to recovery (the RTO bench measures it).
    const interval = options.intervalMs ?? 100;
    let lastState: string;
    let polls = 0;
    for (;;) {
        try {
            const res = await get(`${options.apiUrl}/readyz`, options.tls);
            if (res.status === 200 && res.body.trim() === "ok") return;
            lastState = `/readyz answered ${res.status}`;
        } catch (error) {
            lastState = (error as Error).message;
        }
        // Reading the log costs more than a probe: about once a second.
        if (++polls % Math.max(1, Math.round(1000 / interval)) === 0 || Date.now() > deadline) {
            const explanation = explainKubeApiserverLog(await options.readLog());
            if (explanation) throw new RecoveryApiError(explanation);
        }
        if (Date.now() > deadline) {
            let verbose = "";
            try {
                verbose = (await get(`${options.apiUrl}/readyz?verbose`, options.tls)).body;
            } catch {
                // the state above says enough
            }
            throw new RecoveryApiError(`the recovery kube-apiserver at ${options.apiUrl} is not ready in time (${lastState})\n${verbose}`);
        }
        await new Promise((resolve) => setTimeout(resolve, interval));
    }
}
