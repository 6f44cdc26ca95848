import { InputError } from "../errors";

/** Pure IPv4 helpers for subnets and static member addresses. */

export interface Ipv4Cidr {
    network: number;
    prefix: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIpv4(text: string): boolean {
    const m = IPV4.exec(text);
    return m !== null && m.slice(1).every((octet) => Number(octet) <= 255 && String(Number(octet)) === octet);
}

export function ipv4ToNumber(text: string): number {
    return text.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function numberToIpv4(value: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

export function parseIpv4Cidr(text: string, argument: string): Ipv4Cidr {
    const [address, prefixText, extra] = text.split("/");
    const prefix = Number(prefixText);
    if (extra !== undefined || !isIpv4(address ?? "") || !/^\d{1,2}$/.test(prefixText ?? "") || prefix < 8 || prefix > 29) {
        throw new InputError(argument, text, 'give an IPv4 network in CIDR form with a prefix from /8 to /29, e.g. "172.28.0.0/24"');
    }
    const size = 2 ** (32 - prefix);
    const network = ipv4ToNumber(address!);
    if (network % size !== 0) {
        const aligned = numberToIpv4(network - (network % size));
        throw new InputError(argument, text, `the address has host bits set; the network is "${aligned}/${prefix}"`);
    }
    return { network, prefix };
}

export function cidrContains(cidr: Ipv4Cidr, address: string): boolean {
    const size = 2 ** (32 - cidr.prefix);
    const value = ipv4ToNumber(address);
    return value >= cidr.network && value < cidr.network + size;
}

/** The usable host addresses exclude the network and broadcast addresses. */
export function isUsableHost(cidr: Ipv4Cidr, address: string): boolean {
    const size = 2 ** (32 - cidr.prefix);
    const value = ipv4ToNumber(address);
    return value > cidr.network && value < cidr.network + size - 1;
}

/** The n-th host address of a network (1 is the first usable one). */
export function nthHost(cidr: Ipv4Cidr, n: number): string {
    return numberToIpv4(cidr.network + n);
}
