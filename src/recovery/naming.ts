/**
 * Names and subnets of recovery environments, so that two of them (two
 * stacks, or two environments in one program) never collide on one Docker
 * host: both are derived from the stack and the environment's name, and the
 * checks below refuse what would still collide, before anything is created.
 */
import { InputError } from "../errors";
import { cidrContains, ipv4ToNumber, numberToIpv4, parseIpv4Cidr } from "../net/ipv4";
import { OriginalCluster } from "./source";

/** Derived subnets are /24 networks inside this /16 (256 slots). */
export const RECOVERY_SUBNET_POOL = "172.30.0.0/16";
const MAX_LABEL = 63;
/**
 * Room left for the longest suffix a plan adds ("-kube-apiserver", "-snapshot-check", "-etcd-data"). Volumes
 * and one-shot containers also end in the snapshot's short hash (bindToSnapshot); Docker accepts those longer
 * names (container and volume names are not DNS labels), and the fixed names stay within 63 characters.
 */
export const MAX_ENVIRONMENT_NAME = MAX_LABEL - "-snapshot-check".length;

export interface RecoveryNaming {
    /** DNS-1123 label; prefixes every network, volume and container. */
    name: string;
    /** /24 inside RECOVERY_SUBNET_POOL. */
    subnet: string;
}

/** 32-bit FNV-1a: small, stable across Node versions, good enough to spread names over 256 slots. */
export function fnv1a(text: string): number {
    let hash = 0x811c9dc5;
    for (const byte of Buffer.from(text, "utf8")) {
        hash ^= byte;
        hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash >>> 0;
}

/** Lower-case letters, digits and single '-'; "" when nothing usable is left. */
function toLabelPart(text: string): string {
    return text
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "");
}

/**
 * The environment's Docker name and subnet from the Pulumi stack and the
 * component's name: `incident-42` + `recovery` → `incident-42-recovery` on a
 * /24 chosen by hash. Long names are cut and keep a hash of the whole, so two
 * long names that share a prefix stay different.
 */
export function deriveRecoveryNaming(stack: string, environment: string): RecoveryNaming {
    const parts = [toLabelPart(stack), toLabelPart(environment)].filter((p) => p !== "");
    if (parts.length === 0)
        throw new InputError(
            "name",
            `${stack}/${environment}`,
            "the stack and environment names have no letters or digits; give environmentName explicitly",
        );
    const full = parts.join("-");
    const digest = fnv1a(`${stack}\u0000${environment}`);
    let name = full;
    if (name.length > MAX_ENVIRONMENT_NAME) {
        const suffix = digest.toString(36).padStart(7, "0");
        name = `${full.slice(0, MAX_ENVIRONMENT_NAME - suffix.length - 1).replace(/-+$/, "")}-${suffix}`;
    }
    if (!/^[a-z0-9]/.test(name)) name = `r${name}`.slice(0, MAX_ENVIRONMENT_NAME);
    const pool = parseIpv4Cidr(RECOVERY_SUBNET_POOL, "RECOVERY_SUBNET_POOL");
    const slot = digest % 256;
    return { name, subnet: `${numberToIpv4(pool.network + slot * 256)}/24` };
}

function rangeOf(subnet: string, argument: string): [number, number] {
    const cidr = parseIpv4Cidr(subnet, argument);
    return [cidr.network, cidr.network + 2 ** (32 - cidr.prefix) - 1];
}

export function subnetsOverlap(a: string, b: string): boolean {
    const [a0, a1] = rangeOf(a, "subnet");
    const [b0, b1] = rangeOf(b, "subnet");
    return a0 <= b1 && b0 <= a1;
}

/**
 * Refuses a name or subnet that another environment on the same Docker host
 * already uses (`others`: environments of this program, or networks the
 * caller listed). Docker itself would refuse the name or the overlapping pool,
 * but only half-way through `up`, after other resources exist.
 */
export function assertNoCollision(candidate: RecoveryNaming, others: RecoveryNaming[]): void {
    for (const other of others) {
        if (other.name === candidate.name) {
            throw new InputError(
                "environmentName",
                candidate.name,
                "another recovery environment on this Docker host already uses this name; give each environment (stack) its own name",
            );
        }
        if (subnetsOverlap(other.subnet, candidate.subnet)) {
            throw new InputError(
                "subnet",
                candidate.subnet,
                `it overlaps ${other.subnet} of recovery environment "${other.name}" on the same Docker host; give a different subnet (e.g. another /24 of ${RECOVERY_SUBNET_POOL})`,
            );
        }
    }
}

/** Host addresses the original cluster's URLs name (IPv4 literals only). */
export function originalAddresses(original: OriginalCluster): string[] {
    const urls = original.etcd.members.flatMap((m) => [...m.peerUrls, ...m.clientUrls]);
    const hosts = urls.map((u) => new URL(u).hostname).filter((h) => /^\d+\.\d+\.\d+\.\d+$/.test(h));
    return [...new Set(hosts)];
}

/**
 * Refuses a subnet that holds an address of the original cluster: the Docker
 * host would route that address into the recovery bridge, and lose its route
 * to the production machine for as long as the environment exists.
 */
export function assertSubnetAvoidsOriginal(subnet: string, original: OriginalCluster): void {
    const cidr = parseIpv4Cidr(subnet, "subnet");
    for (const address of originalAddresses(original)) {
        if (cidrContains(cidr, address)) {
            throw new InputError(
                "subnet",
                subnet,
                `it contains ${address}, an address of the original cluster (${original.sources.join(", ")}); the Docker host would route that address into the recovery network. Give a subnet that holds no production address`,
            );
        }
    }
}

/** Loopback and link-local ranges Docker cannot use for a bridge. */
export function assertUsableBridgeSubnet(subnet: string): void {
    const [first] = rangeOf(subnet, "subnet");
    const inside = (cidr: string) => cidrContains(parseIpv4Cidr(cidr, "cidr"), numberToIpv4(first));
    if (inside("127.0.0.0/8") || inside("169.254.0.0/16") || ipv4ToNumber(numberToIpv4(first)) >= ipv4ToNumber("224.0.0.0")) {
        throw new InputError("subnet", subnet, "use a private range such as 172.30.0.0/24 (not loopback, link-local or multicast)");
    }
}
