/**
 * Mode "replica": the by-hand restore into a throw-away docker network, done
 * faithfully. Every original etcd
 * member comes back with its own name, IP, peer URL and initial cluster, and
 * is started with the ORIGINAL certificates and keys, on an internal Docker
 * network with the original subnet; kube-apiserver joins on a free address of
 * that subnet with the original's data-shaping arguments and certificates
 * minted for this environment (as in mode single). For users who need a
 * faithful copy: tools that pin the members' addresses, or proof that the
 * original certificates still work.
 *
 * Pure: plain data in, plain data out. The certificates' content is checked
 * by `validateReplicaCertificates` (strings only); the plan itself also takes
 * pulumi.Output contents, for the component.
 *
 * What the plan cannot know: whether the Docker host already has a network or
 * a route on the original subnet. `replicaSubnetConflicts` says so, given the
 * host's networks and routes; the realizer asks it before creating anything.
 */
import { InputError } from "../errors";
import { ContainerFile, ContainerSpec, DockerPlan } from "../docker/plan";
import {
    ETCD_BIN_DIR,
    ETCD_VOLUME_DIR,
    EtcdTunables,
    etcdCertPaths,
    etcdctlTlsFlags,
    etcdMemberFlags,
    resolveTunables,
    snapshotRestoreCommand,
} from "../etcd/flags";
import { ETCD_CLIENT_PORT, ETCD_PEER_PORT, EtcdMember, EtcdTopology, assertDns1123Label, initialClusterFlag } from "../etcd/topology";
import { certificateMatchesKey, isIssuedBy } from "../pki/cfssl";
import { describeCertificate } from "../pki/der-reader";
import { cidrContains, ipv4ToNumber, isIpv4, isUsableHost, nthHost, numberToIpv4, parseIpv4Cidr } from "../net/ipv4";
import { assertUsableBridgeSubnet, originalAddresses, subnetsOverlap } from "./naming";
import {
    KUBE_APISERVER_PORT,
    RecoveryAddresses,
    RecoveryEnvironmentPlan,
    RecoveryEnvironmentPlanInput,
    RECOVERY_ETCD_HEALTH_WAIT_SECONDS,
    RecoveryFiles,
    SNAPSHOT_PATH_IN_CONTAINER,
    bindToSnapshot,
    checkCommonRecoveryInput,
    recoveryApiserverArgs,
    recoveryApiserverContainer,
    snapshotBoundName,
    snapshotCheckContainer,
} from "./plan";
import { OriginalCluster } from "./source";

// ------------------------------------------------------------------ inputs

/** A certificate and its key; `certFile`/`keyFile` name where they came from, for messages. */
export interface ReplicaPemPair<C> {
    certPem: C;
    keyPem: C;
    certFile?: string;
    keyFile?: string;
}

/** The original etcd PKI, as the members and their clients used it. */
export interface ReplicaCertificates<C> {
    /** The original etcd CA certificate (its key is never needed). */
    caCertPem: C;
    caCertFile?: string;
    /** By original member name (etcd's --name): the member's server and peer certificates (RKE uses one for both). */
    members: Record<string, { server: ReplicaPemPair<C>; peer: ReplicaPemPair<C> }>;
    /** An original etcd client certificate (kubeadm's apiserver-etcd-client, RKE's kube-node): kube-apiserver's and the health check's. */
    client: ReplicaPemPair<C>;
}

/** Files of the replica: the original etcd PKI, and fresh certificates for the API (as mode single). */
export type ReplicaFiles<C> = Omit<RecoveryFiles<C>, "etcd" | "apiserverEtcdClient"> & { etcd: ReplicaCertificates<C> };

export interface ReplicaEnvironmentPlanInput extends Omit<RecoveryEnvironmentPlanInput, "mode"> {
    /** The internal network's subnet. Default: derived from the members' IPs (the /24 holding them all, wider when needed). */
    subnet?: string;
    /** kube-apiserver's address. Default: the highest free address of the subnet (no member, gateway or original address). */
    apiserverIp?: string;
    /** `--initial-cluster-token` of the restored cluster. Default "etcd-cluster" (etcd's own; RKE uses "etcd-cluster-1"). */
    initialClusterToken?: string;
    /** etcd tunables (heartbeat, election timeout, …). Default etcd's own. */
    tunables?: EtcdTunables;
}

export interface ReplicaMember {
    /** The original --name, verbatim. */
    name: string;
    ip: string;
    peerUrls: string[];
    clientUrls: string[];
    /** Container (and hostname) of the member: a fixed name. */
    container: string;
    /** The member's restore and data volume; in a plan, bound to the snapshot (its short hash ends their names). */
    restoreContainer: string;
    volume: string;
}

export interface ReplicaEnvironmentPlan<C> extends RecoveryEnvironmentPlan<C> {
    /** `containerNames.restore` / `.etcd` are the first member's; every member is here. */
    members: ReplicaMember[];
    gateway: string;
    initialCluster: string;
    initialClusterToken: string;
}

export const DEFAULT_REPLICA_CLUSTER_TOKEN = "etcd-cluster";
const NOT_ADDRESSABLE =
    "mode replica needs each member's own IPv4 address in its peer URL; use mode single (fresh member, fresh certificates), which needs no original address";

// ------------------------------------------------------------------ members and addresses

function hostAndPort(url: string, defaultPort: number): { host: string; port: number; protocol: string } {
    const parsed = new URL(url);
    return { host: parsed.hostname, port: parsed.port === "" ? defaultPort : Number(parsed.port), protocol: parsed.protocol };
}

/** Lower-case DNS-1123 label for Docker names; member names may hold '.', '_' and capitals. */
function labelOf(text: string): string {
    return text
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "-")
        .replace(/^-+|-+$/g, "");
}

/** Each original member with its IP (from its peer URLs) and client URLs on that IP; refuses what cannot be reproduced. */
export function replicaMembers(environmentName: string, original: OriginalCluster): ReplicaMember[] {
    const labels = new Map<string, string>();
    const owners = new Map<string, string>();
    return original.etcd.members.map((member, i) => {
        const at = `original.etcd.members[${i}] (${member.name})`;
        const peers = member.peerUrls.map((url) => ({ url, ...hostAndPort(url, ETCD_PEER_PORT) }));
        for (const peer of peers) {
            if (peer.protocol !== "https:") {
                throw new InputError(
                    `${at}.peerUrls`,
                    peer.url,
                    "the original peers talk plain http, so there are no certificates to reproduce; use mode single",
                );
            }
            if (!isIpv4(peer.host)) throw new InputError(`${at}.peerUrls`, peer.url, NOT_ADDRESSABLE);
        }
        const ips = [...new Set(peers.map((p) => p.host))];
        if (ips.length !== 1)
            throw new InputError(
                `${at}.peerUrls`,
                member.peerUrls,
                "the member's peer URLs name several addresses; a container has one address per network — describe the member with the peer URLs of one address",
            );
        const ip = ips[0];
        if (/^(127\.|169\.254\.|0\.)/.test(ip) || ipv4ToNumber(ip) >= ipv4ToNumber("224.0.0.0")) {
            throw new InputError(
                `${at}.peerUrls`,
                member.peerUrls[0],
                `${ip} is a loopback, link-local or multicast address, which a Docker network cannot give a container; ${NOT_ADDRESSABLE}`,
            );
        }
        const owner = owners.get(ip);
        if (owner !== undefined)
            throw new InputError(
                `${at}.peerUrls`,
                member.peerUrls[0],
                `member ${owner} has the same address; on one network each member needs its own`,
            );
        owners.set(ip, member.name);

        const ownClientUrls = member.clientUrls.filter((url) => hostAndPort(url, ETCD_CLIENT_PORT).host === ip);
        for (const url of ownClientUrls) {
            if (hostAndPort(url, ETCD_CLIENT_PORT).protocol !== "https:") {
                throw new InputError(
                    `${at}.clientUrls`,
                    url,
                    "the original serves clients over plain http, so there are no certificates to reproduce; use mode single",
                );
            }
        }
        const clientUrls = ownClientUrls.length > 0 ? ownClientUrls : [`https://${ip}:${ETCD_CLIENT_PORT}`];

        let label = labelOf(member.name);
        if (label === "") label = `member-${i}`;
        const clash = labels.get(label);
        if (clash !== undefined)
            throw new InputError(
                `${at}.name`,
                member.name,
                `its Docker name "${label}" is the same as member ${clash}'s; rename one in the description`,
            );
        labels.set(label, member.name);
        const container = `${environmentName}-${label}`;
        return {
            name: member.name,
            ip,
            peerUrls: member.peerUrls,
            clientUrls,
            container,
            restoreContainer: `${container}-restore`,
            volume: `${container}-data`,
        };
    });
}

/** Smallest network of prefix ≤ 24 that holds every address: the /24 of a typical control plane. */
export function deriveReplicaSubnet(ips: string[]): string {
    if (ips.length === 0) throw new InputError("original.etcd.members", ips, "list at least one member");
    const numbers = ips.map(ipv4ToNumber);
    let prefix = 24;
    for (; prefix >= 8; prefix--) {
        const size = 2 ** (32 - prefix);
        const network = numbers[0] - (numbers[0] % size);
        if (numbers.every((n) => n >= network && n < network + size)) return `${numberToIpv4(network)}/${prefix}`;
    }
    throw new InputError("original.etcd.members", ips, "the members' addresses span more than a /8; give subnet explicitly");
}

/** Subnet, gateway and kube-apiserver address of the replica; every member must fit. */
export function replicaAddresses(
    members: Pick<ReplicaMember, "name" | "ip">[],
    original: OriginalCluster,
    opts: { subnet?: string; apiserverIp?: string } = {},
): RecoveryAddresses & { gateway: string } {
    const subnet = opts.subnet ?? deriveReplicaSubnet(members.map((m) => m.ip));
    const cidr = parseIpv4Cidr(subnet, "subnet");
    assertUsableBridgeSubnet(subnet);
    for (const member of members) {
        if (!cidrContains(cidr, member.ip) || !isUsableHost(cidr, member.ip)) {
            throw new InputError(
                "subnet",
                subnet,
                `member ${member.name}'s address ${member.ip} is not a host address of it; give the original network that holds every member (or omit subnet to derive it)`,
            );
        }
    }
    const memberIps = new Set(members.map((m) => m.ip));
    // Addresses the original names (etcd URLs, kube-apiserver's --advertise-address): not for the gateway or the new apiserver.
    const advertised = original.kubeApiserver.args
        .map((a) => /^--advertise-address=(.+)$/.exec(a)?.[1])
        .filter((a): a is string => a !== undefined);
    const taken = new Set([...memberIps, ...originalAddresses(original), ...advertised]);
    const size = 2 ** (32 - cidr.prefix);
    const highestFree = (exclude: Set<string>): string | undefined => {
        for (let n = size - 2; n >= 1; n--) {
            const address = nthHost(cidr, n);
            if (!exclude.has(address)) return address;
        }
        return undefined;
    };
    const first = nthHost(cidr, 1);
    const gateway = !memberIps.has(first) ? first : highestFree(taken);
    if (gateway === undefined)
        throw new InputError("subnet", subnet, "no free address is left for the network's gateway; give a wider subnet");
    let apiserverIp: string;
    if (opts.apiserverIp !== undefined) {
        apiserverIp = opts.apiserverIp;
        if (!isIpv4(apiserverIp) || !cidrContains(cidr, apiserverIp) || !isUsableHost(cidr, apiserverIp)) {
            throw new InputError("apiserverIp", apiserverIp, `give a host address inside ${subnet}`);
        }
        if (memberIps.has(apiserverIp) || apiserverIp === gateway) {
            throw new InputError(
                "apiserverIp",
                apiserverIp,
                `it is ${apiserverIp === gateway ? "the network's gateway" : "an etcd member's address"}; give a free address of ${subnet} (or omit it)`,
            );
        }
    } else {
        const free = highestFree(new Set([...taken, gateway]));
        if (free === undefined)
            throw new InputError("subnet", subnet, "no free address is left for kube-apiserver; give a wider subnet or apiserverIp");
        apiserverIp = free;
    }
    return { subnet, gateway, etcdIp: members[0].ip, apiserverIp, apiUrl: `https://${apiserverIp}:${KUBE_APISERVER_PORT}` };
}

/**
 * What only the Docker host knows: a Docker network or a route already on the
 * replica's subnet. Docker refuses an overlapping network half-way through;
 * a route means the host itself reaches production there, and the replica's
 * bridge would take that route over for as long as it exists. [] when clear.
 */
export function replicaSubnetConflicts(
    subnet: string,
    host: { dockerNetworks: { name: string; subnets: string[] }[]; routes?: string[] },
): string[] {
    const problems: string[] = [];
    for (const network of host.dockerNetworks) {
        for (const other of network.subnets) {
            if (/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(other) && safeOverlap(subnet, other)) {
                problems.push(
                    `Docker network "${network.name}" (${other}) overlaps ${subnet}: remove it (docker network rm ${network.name}) or run the replica on another Docker host`,
                );
            }
        }
    }
    for (const route of host.routes ?? []) {
        const destination = route.trim().split(/\s+/)[0];
        if (destination === "default" || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(destination) || / dev (docker0|br-)/.test(route)) continue;
        if (safeOverlap(subnet, destination)) {
            problems.push(
                `the host routes ${destination} (${route.trim()}): it reaches the original network, and the replica's bridge would take that route over; run the replica on a Docker host outside the production network`,
            );
        }
    }
    return problems;
}

function safeOverlap(a: string, b: string): boolean {
    const [address, prefix] = b.split("/");
    const p = Number(prefix);
    // parseIpv4Cidr accepts /8../29 with no host bits; normalize routes and host networks outside that.
    const clamped = Math.min(Math.max(p, 8), 29);
    const size = 2 ** (32 - clamped);
    const network = ipv4ToNumber(address) - (ipv4ToNumber(address) % size);
    return subnetsOverlap(a, `${numberToIpv4(network)}/${clamped}`);
}

// ------------------------------------------------------------------ certificate checks

function where(file: string | undefined, field: string): string {
    return file ? `${field} (${file})` : field;
}

/**
 * Checks the original PKI before anything starts: every PEM parses, each
 * certificate matches its key and was issued by the CA, has not expired,
 * serves/authenticates as etcd needs, and names the member's IP. Errors name
 * the member, the file and the fix.
 */
export function validateReplicaCertificates(original: OriginalCluster, certs: ReplicaCertificates<string>, now: Date = new Date()): void {
    const caField = where(certs.caCertFile, "certificates.caCertPem");
    let ca;
    try {
        ca = describeCertificate(certs.caCertPem, caField);
    } catch (error) {
        throw new InputError(
            caField,
            "(not a certificate)",
            `give the original etcd CA certificate (kubeadm: /etc/kubernetes/pki/etcd/ca.crt, RKE: kube-ca.pem): ${(error as Error).message}`,
        );
    }
    if (!ca.isCa)
        throw new InputError(
            caField,
            ca.subject.CN ?? "(no CN)",
            "this certificate is not a CA; give the etcd CA that signed the members' certificates",
        );

    const check = (
        pair: ReplicaPemPair<string>,
        field: string,
        owner: string,
        usages: ("serverAuth" | "clientAuth")[],
        member?: { name: string; ip: string },
    ) => {
        const certField = where(pair.certFile, `${field}.certPem`);
        const keyField = where(pair.keyFile, `${field}.keyPem`);
        let cert;
        try {
            cert = describeCertificate(pair.certPem, certField);
        } catch (error) {
            throw new InputError(certField, "(not a certificate)", `give ${owner}'s PEM certificate: ${(error as Error).message}`);
        }
        let matches: boolean;
        try {
            matches = certificateMatchesKey(pair.certPem, pair.keyPem, keyField, certField);
        } catch (error) {
            throw new InputError(
                keyField,
                "(not shown: a private key)",
                `give ${owner}'s PEM private key: ${(error as Error).message.replace(/-----BEGIN[\s\S]*$/, "")}`,
            );
        }
        if (!matches)
            throw new InputError(
                keyField,
                "(not shown: a private key)",
                `this key does not belong to ${certField} (${cert.subject.CN ?? "no CN"}); give the key file next to that certificate`,
            );
        if (!isIssuedBy(pair.certPem, certs.caCertPem)) {
            throw new InputError(
                certField,
                cert.subject.CN ?? "(no CN)",
                `it was not issued by the etcd CA ${caField} (${ca.subject.CN ?? "no CN"}; this one names issuer ${cert.issuer.CN ?? "(no CN)"}); give the certificates of one cluster`,
            );
        }
        if (cert.notAfter.getTime() <= now.getTime()) {
            throw new InputError(
                certField,
                `expired ${cert.notAfter.toISOString()}`,
                "etcd refuses expired certificates; renew the original's (kubeadm certs renew, rke cert rotate) or use mode single",
            );
        }
        for (const usage of usages) {
            if (cert.extKeyUsages.length > 0 && !cert.extKeyUsages.includes(usage) && !cert.extKeyUsages.includes("any")) {
                throw new InputError(
                    certField,
                    cert.extKeyUsages,
                    `${owner} needs extended key usage ${usage}; give the certificate etcd really used for it`,
                );
            }
        }
        if (member !== undefined && !cert.ipAddresses.includes(member.ip)) {
            throw new InputError(
                certField,
                cert.ipAddresses,
                `it does not name ${member.ip}, member ${member.name}'s address (its IP SANs are listed); peers and kube-apiserver check it — give this member's own certificate`,
            );
        }
    };

    const known = new Set(original.etcd.members.map((m) => m.name));
    for (const name of Object.keys(certs.members)) {
        if (!known.has(name))
            throw new InputError(
                `certificates.members.${name}`,
                name,
                `the original has no such member (members: ${[...known].join(", ")}); key the certificates by etcd --name`,
            );
    }
    for (const member of original.etcd.members) {
        const pems = certs.members[member.name];
        if (!pems)
            throw new InputError(
                `certificates.members.${member.name}`,
                undefined,
                `give member ${member.name}'s server and peer certificates and keys (kubeadm: pki/etcd/server.* and peer.* of that node; RKE: kube-etcd-<ip>)`,
            );
        const ip = new URL(member.peerUrls[0]).hostname;
        check(pems.server, `certificates.members.${member.name}.server`, `member ${member.name}'s server certificate`, ["serverAuth"], {
            name: member.name,
            ip,
        });
        check(
            pems.peer,
            `certificates.members.${member.name}.peer`,
            `member ${member.name}'s peer certificate`,
            ["serverAuth", "clientAuth"],
            { name: member.name, ip },
        );
    }
    check(certs.client, "certificates.client", "the etcd client certificate (kube-apiserver's)", ["clientAuth"]);
}

// ------------------------------------------------------------------ the plan

function memberFlags(member: ReplicaMember, topology: EtcdTopology, tunables: ReturnType<typeof resolveTunables>): string[] {
    const etcdMember: EtcdMember = {
        name: member.name,
        ip: member.ip,
        clientUrl: member.clientUrls.join(","),
        peerUrl: member.peerUrls.join(","),
    };
    const ports = (urls: string[], fallback: number) => [...new Set(urls.map((u) => hostAndPort(u, fallback).port))];
    const listenClient = ports(member.clientUrls, ETCD_CLIENT_PORT)
        .map((p) => `https://0.0.0.0:${p}`)
        .join(",");
    const listenPeer = ports(member.peerUrls, ETCD_PEER_PORT)
        .map((p) => `https://0.0.0.0:${p}`)
        .join(",");
    // The shared flags, listening on whatever ports the original advertised (RKE also advertises 4001).
    return etcdMemberFlags(etcdMember, topology, tunables).map((flag) =>
        flag.startsWith("--listen-client-urls=")
            ? `--listen-client-urls=${listenClient}`
            : flag.startsWith("--listen-peer-urls=")
              ? `--listen-peer-urls=${listenPeer}`
              : flag,
    );
}

/** Health over the member's own address: original certificates need not name 127.0.0.1. */
function memberHealthCheck(member: ReplicaMember): string[] {
    return [
        "CMD",
        `${ETCD_BIN_DIR}/etcdctl`,
        `--endpoints=${member.clientUrls[0]}`,
        ...etcdctlTlsFlags({ ca: etcdCertPaths.ca, cert: etcdCertPaths.healthcheckCert, key: etcdCertPaths.healthcheckKey }),
        "--command-timeout=5s",
        "endpoint",
        "health",
    ];
}

export function planReplicaEnvironment<C>(input: ReplicaEnvironmentPlanInput, files: ReplicaFiles<C>): ReplicaEnvironmentPlan<C> {
    assertDns1123Label(input.name, "name");
    const { original, etcdImage, etcdVersion, kubeApiserverImage } = checkCommonRecoveryInput(input, files.encryptionConfig !== undefined);
    const token = input.initialClusterToken ?? DEFAULT_REPLICA_CLUSTER_TOKEN;
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(token))
        throw new InputError("initialClusterToken", token, "use 1-128 letters, digits, '.', '_' or '-'");
    const tunables = resolveTunables(input.tunables);

    const members = replicaMembers(input.name, original);
    for (const member of members) {
        if (!files.etcd.members[member.name]) {
            throw new InputError(
                `certificates.members.${member.name}`,
                undefined,
                `give member ${member.name}'s original server and peer certificates and keys`,
            );
        }
    }
    const addresses = replicaAddresses(members, original, {
        ...(input.subnet !== undefined ? { subnet: input.subnet } : {}),
        ...(input.apiserverIp !== undefined ? { apiserverIp: input.apiserverIp } : {}),
    });
    const networkName = `${input.name}-net`;
    const labels = { "etcd-recovery.environment": input.name };
    const initialCluster = initialClusterFlag(members.flatMap((m) => m.peerUrls.map((peerUrl) => ({ name: m.name, peerUrl }))));
    const topology: EtcdTopology = {
        clusterName: input.name,
        members: members.map((m) => ({ name: m.name, ip: m.ip, clientUrl: m.clientUrls.join(","), peerUrl: m.peerUrls.join(",") })),
        network: { mode: "bridge", subnet: addresses.subnet, gateway: addresses.gateway, internal: true },
        initialCluster,
        initialClusterToken: token,
        clientEndpoints: members.map((m) => m.clientUrls[0]),
    };

    const snapshotCheck = snapshotCheckContainer<C>({ name: input.name, etcdImage, etcdVersion, snapshotPath: input.snapshotPath, labels });
    const cert = (path: string, content: C): ContainerFile<C> => ({ path, content, mode: 0o644 });
    const secret = (path: string, content: C): ContainerFile<C> => ({ path, content, mode: 0o600, secret: true });
    const etcd = files.etcd;

    const memberContainers = members.flatMap((member, index): ContainerSpec<C>[] => {
        const pems = etcd.members[member.name];
        const memberLabels = { ...labels, "etcd-recovery.member": labelOf(member.name) || `member-${index}` };
        const mount = { source: member.volume, target: ETCD_VOLUME_DIR };
        const restore = snapshotRestoreCommand(topology.members[index], topology, SNAPSHOT_PATH_IN_CONTAINER, etcdVersion);
        return [
            {
                name: member.restoreContainer,
                image: etcdImage,
                entrypoint: restore.entrypoint,
                command: restore.command,
                files: [{ path: SNAPSHOT_PATH_IN_CONTAINER, sourcePath: input.snapshotPath, mode: 0o600 }],
                mounts: [mount],
                network: { none: true },
                labels: { ...memberLabels, "etcd-recovery.role": "restore" },
                runToCompletion: true,
                restart: "no",
            },
            {
                name: member.container,
                image: etcdImage,
                entrypoint: [`${ETCD_BIN_DIR}/etcd`],
                command: memberFlags(member, topology, tunables),
                files: [
                    cert(etcdCertPaths.ca, etcd.caCertPem),
                    cert(etcdCertPaths.serverCert, pems.server.certPem),
                    secret(etcdCertPaths.serverKey, pems.server.keyPem),
                    cert(etcdCertPaths.peerCert, pems.peer.certPem),
                    secret(etcdCertPaths.peerKey, pems.peer.keyPem),
                    cert(etcdCertPaths.healthcheckCert, etcd.client.certPem),
                    secret(etcdCertPaths.healthcheckKey, etcd.client.keyPem),
                ],
                mounts: [mount],
                network: {
                    name: networkName,
                    ipv4Address: member.ip,
                    aliases: [...new Set([member.name.toLowerCase(), labelOf(member.name)])].filter((a) => a !== ""),
                },
                healthCheck: {
                    test: memberHealthCheck(member),
                    intervalSeconds: 5,
                    timeoutSeconds: 10,
                    retries: 5,
                    startPeriodSeconds: 30,
                },
                waitHealthySeconds: RECOVERY_ETCD_HEALTH_WAIT_SECONDS,
                hostname: member.container.slice(input.name.length + 1).slice(0, 63),
                labels: { ...memberLabels, "etcd-recovery.role": "member" },
                restart: "unless-stopped",
                // The snapshot check runs beside the restores; no member starts before both succeeded.
                after: [member.restoreContainer, snapshotCheck.name],
            },
        ];
    });

    const kubeApiserverArgs = recoveryApiserverArgs(original, addresses).map((arg) =>
        arg.startsWith("--etcd-servers=") ? `--etcd-servers=${members.map((m) => m.clientUrls[0]).join(",")}` : arg,
    );
    const apiserver = recoveryApiserverContainer<C>({
        name: input.name,
        image: kubeApiserverImage,
        kubeApiserverArgs,
        original,
        networkName,
        ip: addresses.apiserverIp,
        labels,
        etcdCaCertPem: etcd.caCertPem,
        etcdClient: etcd.client,
        files,
        after: members.map((m) => m.container),
    });

    const plan: DockerPlan<C> = bindToSnapshot(
        {
            networks: [{ name: networkName, subnet: addresses.subnet, gateway: addresses.gateway, internal: true, labels }],
            volumes: members.map((m) => ({ name: m.volume, labels: { ...labels, "etcd-recovery.member": labelOf(m.name) } })),
            containers: [snapshotCheck, ...memberContainers, apiserver],
        },
        input.snapshotSha256,
    );
    const { gateway, ...recoveryAddresses } = addresses;
    const bound = (name: string) => snapshotBoundName(name, input.snapshotSha256);
    const boundMembers = members.map((m) => ({ ...m, restoreContainer: bound(m.restoreContainer), volume: bound(m.volume) }));
    return {
        plan,
        addresses: recoveryAddresses,
        containerNames: {
            snapshotCheck: bound(snapshotCheck.name),
            restore: boundMembers[0].restoreContainer,
            etcd: members[0].container,
            kubeApiserver: apiserver.name,
        },
        etcdImage,
        kubeApiserverImage,
        kubeApiserverArgs,
        members: boundMembers,
        gateway,
        initialCluster,
        initialClusterToken: token,
    };
}
