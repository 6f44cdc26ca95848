import { InputError } from "../errors";
import { Ipv4Cidr, cidrContains, isIpv4, isUsableHost, nthHost, parseIpv4Cidr } from "../net/ipv4";

/** etcd's well-known ports. */
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const ETCD_METRICS_PORT = 2381;

/** A member as the user describes it. */
export interface EtcdMemberInput {
    /** DNS-1123 label, unique in the cluster; becomes etcd's `--name` and a certificate SAN. */
    name: string;
    /** The member's IPv4 address: on the bridge network, or the host's address with host networking. */
    ip?: string;
    /**
     * Host networking only: the Docker engine that runs this member
     * (e.g. "ssh://admin@32.16.5.31"); omitted means the default engine.
     */
    dockerHost?: string;
}

/**
 * "bridge": one Docker bridge network with a subnet and static member IPs, on one Docker engine.
 * "host": host networking, each member on its own machine (its Docker engine in `dockerHost`).
 */
export const EtcdNetworkMode = { bridge: "bridge", host: "host" } as const;
export type EtcdNetworkMode = (typeof EtcdNetworkMode)[keyof typeof EtcdNetworkMode];

/** The cluster's network: `subnet` and `internal` are for mode "bridge" only (refused with mode "host"). */
export interface EtcdNetworkInput {
    /** "bridge" (a subnet and static member IPs on one Docker engine) or "host" (host networking, one Docker engine per member). */
    mode: EtcdNetworkMode;
    /** Mode "bridge" only: IPv4 subnet of the cluster's bridge network. Default "172.29.0.0/24". */
    subnet?: string;
    /** Mode "bridge" only: make the network internal (no route off the Docker host). Default false. */
    internal?: boolean;
}

/** A member with everything decided. */
export interface EtcdMember {
    name: string;
    ip: string;
    dockerHost?: string;
    clientUrl: string;
    peerUrl: string;
}

export interface EtcdTopology {
    clusterName: string;
    members: EtcdMember[];
    network: { mode: "bridge"; subnet: string; gateway: string; internal: boolean } | { mode: "host" };
    initialCluster: string;
    initialClusterToken: string;
    clientEndpoints: string[];
}

export interface EtcdTopologyInput {
    /** Names resources and the default member names; DNS-1123. */
    clusterName: string;
    /** Explicit members; when omitted, `size` members named `etcd-<i>` are generated. */
    members?: EtcdMemberInput[];
    /** Number of generated members when `members` is omitted. Default 3. */
    size?: number;
    /** Allow an even member count (no gain in fault tolerance, see etcd's FAQ). Default false. */
    allowEvenSize?: boolean;
    network?: EtcdNetworkInput;
    /** `--initial-cluster-token`; default `<clusterName>-token`. */
    initialClusterToken?: string;
}

export const DEFAULT_BRIDGE_SUBNET = "172.29.0.0/24";
/** Generated member i gets host number FIRST_MEMBER_HOST + i (the gateway takes .1). */
const FIRST_MEMBER_HOST = 11;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function assertDns1123Label(value: string, argument: string): void {
    if (typeof value !== "string" || !DNS1123_LABEL.test(value)) {
        throw new InputError(
            argument,
            value,
            "use a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        );
    }
}

/** Refuses member counts that lose fault tolerance, explaining quorum. */
export function assertMemberCount(count: number, allowEven: boolean, argument: string): void {
    if (!Number.isInteger(count) || count < 1 || count > 9) {
        throw new InputError(argument, count, "use 1 (tests only), 3, 5 or 7 members");
    }
    if (count % 2 === 0 && !allowEven) {
        const quorum = Math.floor(count / 2) + 1;
        throw new InputError(
            argument,
            count,
            `${count} members need a quorum of ${quorum} and tolerate ${count - quorum} failure(s), ` +
                `the same as ${count - 1} members but with one more machine that can fail; ` +
                `use ${count - 1} or ${count + 1} members, or set allowEvenSize: true if this is deliberate (e.g. during a migration)`,
        );
    }
}

export function planTopology(input: EtcdTopologyInput): EtcdTopology {
    assertDns1123Label(input.clusterName, "name");
    const network = input.network ?? { mode: "bridge" };
    if (network.mode !== "bridge" && network.mode !== "host") {
        throw new InputError("network.mode", (network as { mode: unknown }).mode, 'use "bridge" or "host"');
    }
    if (network.mode === "host") {
        for (const field of ["subnet", "internal"] as const) {
            if (network[field] !== undefined) {
                throw new InputError(
                    `network.${field}`,
                    network[field],
                    `${field} is for network mode "bridge" (host networking uses the hosts' own addresses); remove it, or use mode "bridge"`,
                );
            }
        }
    }
    const memberInputs = input.members ?? generatedMembers(input.size ?? 3);
    assertMemberCount(memberInputs.length, input.allowEvenSize ?? false, input.members ? "members" : "size");

    let bridge: { cidr: Ipv4Cidr; subnet: string } | undefined;
    if (network.mode === "bridge") {
        const subnet = network.subnet ?? DEFAULT_BRIDGE_SUBNET;
        bridge = { cidr: parseIpv4Cidr(subnet, "network.subnet"), subnet };
    }

    const seenNames = new Set<string>();
    const seenAddresses = new Map<string, string>();
    const members = memberInputs.map((member, index): EtcdMember => {
        const at = `members[${index}]`;
        assertDns1123Label(member.name, `${at}.name`);
        if (seenNames.has(member.name)) {
            throw new InputError(`${at}.name`, member.name, "member names must be unique; rename one of them");
        }
        seenNames.add(member.name);
        const ip = member.ip ?? (bridge ? nthHost(bridge.cidr, FIRST_MEMBER_HOST + index) : undefined);
        if (ip === undefined) {
            throw new InputError(`${at}.ip`, ip, "host networking needs each member's host IPv4 address");
        }
        if (!isIpv4(ip)) {
            throw new InputError(`${at}.ip`, ip, "give an IPv4 address such as 172.29.0.11");
        }
        if (bridge) {
            if (!cidrContains(bridge.cidr, ip) || !isUsableHost(bridge.cidr, ip)) {
                throw new InputError(
                    `${at}.ip`,
                    ip,
                    `pick a host address inside network.subnet ${bridge.subnet} (not its network or broadcast address)`,
                );
            }
            if (ip === nthHost(bridge.cidr, 1)) {
                throw new InputError(`${at}.ip`, ip, `${ip} is the network's gateway; pick another address in ${bridge.subnet}`);
            }
            if (member.dockerHost !== undefined) {
                throw new InputError(
                    `${at}.dockerHost`,
                    member.dockerHost,
                    'members on other Docker engines need network: { mode: "host" }',
                );
            }
        }
        const addressKey = `${member.dockerHost ?? ""}|${ip}`;
        const owner = seenAddresses.get(addressKey);
        if (owner !== undefined) {
            throw new InputError(`${at}.ip`, ip, `member "${owner}" already uses this address; give each member its own`);
        }
        seenAddresses.set(addressKey, member.name);
        return {
            name: member.name,
            ip,
            ...(member.dockerHost !== undefined ? { dockerHost: member.dockerHost } : {}),
            clientUrl: `https://${ip}:${ETCD_CLIENT_PORT}`,
            peerUrl: `https://${ip}:${ETCD_PEER_PORT}`,
        };
    });

    const token = input.initialClusterToken ?? `${input.clusterName}-token`;
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(token)) {
        throw new InputError("initialClusterToken", token, "use 1-128 letters, digits, '.', '_' or '-'");
    }
    return {
        clusterName: input.clusterName,
        members,
        network: bridge
            ? { mode: "bridge", subnet: bridge.subnet, gateway: nthHost(bridge.cidr, 1), internal: network.internal ?? false }
            : { mode: "host" },
        initialCluster: initialClusterFlag(members),
        initialClusterToken: token,
        clientEndpoints: members.map((m) => m.clientUrl),
    };
}

function generatedMembers(size: number): EtcdMemberInput[] {
    assertMemberCount(size, true, "size");
    return Array.from({ length: size }, (_, i) => ({ name: `etcd-${i}` }));
}

/** The `--initial-cluster` value: name=peerURL pairs, comma separated. */
export function initialClusterFlag(members: Pick<EtcdMember, "name" | "peerUrl">[]): string {
    return members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
}
