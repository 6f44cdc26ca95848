/**
 * A TCP proxy on 127.0.0.1 in front of a real server (MinIO), that turns
 * into a fault once the client has sent `afterBytes` through it — in the
 * middle of an upload:
 *
 * - "hang": nothing more is forwarded either way, connections stay open and
 *   new ones are accepted but never answered (a store that stops responding);
 * - "die": every connection is reset and the port is closed, so reconnects are
 *   refused (a store that crashes).
 */
import * as net from "net";

export type ProxyFault = "hang" | "die";

export interface FaultProxy {
    port: number;
    /** Client bytes forwarded so far. */
    forwarded(): number;
    /** Whether the fault has started. */
    tripped(): boolean;
    close(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; port: number }, fault: ProxyFault, afterBytes: number): Promise<FaultProxy> {
    let forwarded = 0;
    let tripped = false;
    const sockets = new Set<net.Socket>();
    const track = (socket: net.Socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        socket.on("error", () => undefined);
    };
    const trip = () => {
        if (tripped) return;
        tripped = true;
        if (fault === "die") {
            for (const socket of sockets) socket.destroy();
            server.close();
        }
    };

    const server = net.createServer((client) => {
        track(client);
        if (tripped) return; // "hang": accepted, never answered
        const upstream = net.connect(target);
        track(upstream);
        client.on("data", (chunk: Buffer) => {
            if (tripped) return;
            const room = afterBytes - forwarded;
            if (chunk.length >= room) {
                // Forward up to the limit, then the fault starts.
                if (room > 0) upstream.write(chunk.subarray(0, room));
                forwarded += Math.max(room, 0);
                trip();
                return;
            }
            forwarded += chunk.length;
            upstream.write(chunk);
        });
        upstream.on("data", (chunk: Buffer) => {
            if (!tripped) client.write(chunk);
        });
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => {
            if (!tripped) client.destroy();
        });
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    return {
        port,
        forwarded: () => forwarded,
        tripped: () => tripped,
        close: async () => {
            for (const socket of sockets) socket.destroy();
            await new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
        },
    };
}
