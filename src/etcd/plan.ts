import { InputError } from "../errors";
import { ContainerFile, ContainerSpec, DockerPlan, PortMapping } from "../docker/plan";
import { isIpv4 } from "../net/ipv4";
import {
    ETCD_BIN_DIR,
    ETCD_VOLUME_DIR,
    EtcdTunables,
    etcdCertPaths,
    etcdHealthCheckCommand,
    etcdMemberFlags,
    etcdVersionFromImage,
    resolveTunables,
    snapshotRestoreCommand,
} from "./flags";
import { ETCD_CLIENT_PORT, EtcdMember, EtcdTopology, EtcdTopologyInput, planTopology } from "./topology";

/** The etcd image used when none is given; air-gapped users point `image` at their own registry. */
export const DEFAULT_ETCD_IMAGE = "registry.k8s.io/etcd:3.5.21-0";

export interface EtcdClusterPlanInput extends EtcdTopologyInput {
    /** etcd image; default DEFAULT_ETCD_IMAGE. Needs etcd, etcdctl (and etcdutl for 3.5+) in /usr/local/bin. */
    image?: string;
    /** etcd version of the image, when its tag does not say (e.g. "3.5.21"). */
    etcdVersion?: string;
    tunables?: EtcdTunables;
    /** A snapshot file on the deploying machine; every member is restored from it before its first start. */
    seedSnapshotPath?: string;
    /** Publish each member's client port on the Docker host: member i on `firstHostPort + i`. */
    publishClientPorts?: PublishClientPorts;
}

/** Each member's client port published on the Docker host: member i on `firstHostPort + i`. */
export interface PublishClientPorts {
    /** Host address to publish on. Default "127.0.0.1". */
    ip?: string;
    /** The host port of the first member. */
    firstHostPort: number;
}

/** The certificate files one member container needs; `C` is string or pulumi.Output<string>. */
export interface MemberCertificateFiles<C> {
    caCertPem: C;
    serverCertPem: C;
    serverKeyPem: C;
    peerCertPem: C;
    peerKeyPem: C;
    healthcheckCertPem: C;
    healthcheckKeyPem: C;
}

/** Empty files: for validating a plan before any certificate exists. */
export const NO_CERTIFICATE_FILES: MemberCertificateFiles<string> = {
    caCertPem: "",
    serverCertPem: "",
    serverKeyPem: "",
    peerCertPem: "",
    peerKeyPem: "",
    healthcheckCertPem: "",
    healthcheckKeyPem: "",
};

export interface EtcdClusterPlan<C> {
    topology: EtcdTopology;
    image: string;
    etcdVersion: string;
    plan: DockerPlan<C>;
    /** Container name of each member, by member name. */
    containerNames: Record<string, string>;
}

const SNAPSHOT_PATH_IN_CONTAINER = "/var/lib/etcd-seed/snapshot.db";

export function etcdResourceNames(clusterName: string, memberName: string) {
    return {
        container: `${clusterName}-${memberName}`,
        volume: `${clusterName}-${memberName}-data`,
        restore: `${clusterName}-${memberName}-restore`,
    };
}

export function etcdNetworkName(clusterName: string): string {
    return `${clusterName}-net`;
}

/**
 * Everything an external TLS etcd cluster is, as plain data: one network (bridge
 * mode), one data volume and one container per member, and — when seeding from
 * a snapshot — one run-to-completion restore container per member.
 */
export function planEtcdCluster<C>(
    input: EtcdClusterPlanInput,
    certificatesFor: (member: EtcdMember) => MemberCertificateFiles<C>,
): EtcdClusterPlan<C> {
    const topology = planTopology(input);
    const tunables = resolveTunables(input.tunables);
    const image = input.image ?? DEFAULT_ETCD_IMAGE;
    if (typeof image !== "string" || image.trim() === "" || /\s/.test(image)) {
        throw new InputError("image", image, 'give an image reference such as "registry.k8s.io/etcd:3.5.21-0"');
    }
    const etcdVersion = input.etcdVersion ?? etcdVersionFromImage(image);
    if (etcdVersion === undefined) {
        throw new InputError(
            "etcdVersion",
            etcdVersion,
            `the tag of image "${image}" does not show the etcd version; set etcdVersion, e.g. "3.5.21"`,
        );
    }
    validatePublish(input.publishClientPorts, topology);
    if (input.seedSnapshotPath !== undefined && (typeof input.seedSnapshotPath !== "string" || input.seedSnapshotPath === "")) {
        throw new InputError(
            "seedSnapshotPath",
            input.seedSnapshotPath,
            "give the path of an etcd snapshot file on the machine that runs the deployment",
        );
    }

    const labels = { "etcd-recovery.cluster": topology.clusterName };
    const networkName = etcdNetworkName(topology.clusterName);
    const containers: ContainerSpec<C>[] = [];
    const containerNames: Record<string, string> = {};
    topology.members.forEach((member, index) => {
        const names = etcdResourceNames(topology.clusterName, member.name);
        containerNames[member.name] = names.container;
        const memberLabels = { ...labels, "etcd-recovery.member": member.name };
        const network =
            topology.network.mode === "bridge"
                ? { name: networkName, ipv4Address: member.ip, aliases: [member.name] }
                : { host: true as const };
        const dataMount = { source: names.volume, target: ETCD_VOLUME_DIR };
        const dockerHost = member.dockerHost !== undefined ? { dockerHost: member.dockerHost } : {};
        if (input.seedSnapshotPath !== undefined) {
            const restore = snapshotRestoreCommand(member, topology, SNAPSHOT_PATH_IN_CONTAINER, etcdVersion);
            containers.push({
                name: names.restore,
                image,
                entrypoint: restore.entrypoint,
                command: restore.command,
                files: [{ path: SNAPSHOT_PATH_IN_CONTAINER, sourcePath: input.seedSnapshotPath, mode: 0o600 }],
                mounts: [dataMount],
                network: { none: true },
                labels: { ...memberLabels, "etcd-recovery.role": "restore" },
                runToCompletion: true,
                // The seed is for the first start; a member's data dir is never restored over.
                firstRunOnly: true,
                restart: "no",
                ...dockerHost,
            });
        }
        // Members start one after another, each after its own restore: when the engine replaces
        // members (an image or flag change), it replaces one at a time, never all at once.
        const previous = index > 0 ? etcdResourceNames(topology.clusterName, topology.members[index - 1]!.name).container : undefined;
        const after = [...(input.seedSnapshotPath !== undefined ? [names.restore] : []), ...(previous !== undefined ? [previous] : [])];
        containers.push({
            name: names.container,
            image,
            entrypoint: [`${ETCD_BIN_DIR}/etcd`],
            command: etcdMemberFlags(member, topology, tunables),
            files: memberFiles(certificatesFor(member)),
            mounts: [dataMount],
            network,
            ...(input.publishClientPorts ? { ports: [publishedPort(input.publishClientPorts, index)] } : {}),
            healthCheck: { test: etcdHealthCheckCommand(), intervalSeconds: 5, timeoutSeconds: 10, retries: 5, startPeriodSeconds: 30 },
            hostname: member.name,
            labels: { ...memberLabels, "etcd-recovery.role": "member" },
            restart: "unless-stopped",
            ...(after.length > 0 ? { after } : {}),
            ...dockerHost,
        });
    });

    return {
        topology,
        image,
        etcdVersion,
        containerNames,
        plan: {
            networks:
                topology.network.mode === "bridge"
                    ? [
                          {
                              name: networkName,
                              subnet: topology.network.subnet,
                              gateway: topology.network.gateway,
                              internal: topology.network.internal,
                              labels,
                          },
                      ]
                    : [],
            volumes: topology.members.map((m) => ({
                name: etcdResourceNames(topology.clusterName, m.name).volume,
                labels: { ...labels, "etcd-recovery.member": m.name },
            })),
            containers,
        },
    };
}

/** Keys are 0600, certificates 0644: etcd refuses nothing here, but nobody else should read a key. */
function memberFiles<C>(certs: MemberCertificateFiles<C>): ContainerFile<C>[] {
    const cert = (path: string, content: C): ContainerFile<C> => ({ path, content, mode: 0o644 });
    const key = (path: string, content: C): ContainerFile<C> => ({ path, content, mode: 0o600, secret: true });
    return [
        cert(etcdCertPaths.ca, certs.caCertPem),
        cert(etcdCertPaths.serverCert, certs.serverCertPem),
        key(etcdCertPaths.serverKey, certs.serverKeyPem),
        cert(etcdCertPaths.peerCert, certs.peerCertPem),
        key(etcdCertPaths.peerKey, certs.peerKeyPem),
        cert(etcdCertPaths.healthcheckCert, certs.healthcheckCertPem),
        key(etcdCertPaths.healthcheckKey, certs.healthcheckKeyPem),
    ];
}

function publishedPort(publish: { ip?: string; firstHostPort: number }, index: number): PortMapping {
    return { internal: ETCD_CLIENT_PORT, external: publish.firstHostPort + index, ip: publish.ip ?? "127.0.0.1" };
}

function validatePublish(publish: EtcdClusterPlanInput["publishClientPorts"], topology: EtcdTopology): void {
    if (publish === undefined) return;
    if (topology.network.mode === "host") {
        throw new InputError(
            "publishClientPorts",
            publish,
            "host networking already serves the client port on each member's address; remove publishClientPorts",
        );
    }
    const last = publish.firstHostPort + topology.members.length - 1;
    if (!Number.isInteger(publish.firstHostPort) || publish.firstHostPort < 1024 || last > 65535) {
        throw new InputError(
            "publishClientPorts.firstHostPort",
            publish.firstHostPort,
            `use a port from 1024 so that all ${topology.members.length} ports fit below 65536`,
        );
    }
    if (publish.ip !== undefined && !isIpv4(publish.ip)) {
        throw new InputError("publishClientPorts.ip", publish.ip, 'give a host IPv4 address such as "127.0.0.1"');
    }
}

/** Picks one member's container files out of a whole PKI (strings or Outputs alike). */
export function memberCertificateFiles<C>(
    pems: {
        caCertPem: C;
        members: Record<string, { server: { certPem: C; keyPem: C }; peer: { certPem: C; keyPem: C } }>;
        clients: { healthcheck: { certPem: C; keyPem: C } };
    },
    memberName: string,
): MemberCertificateFiles<C> {
    const member = pems.members[memberName];
    if (!member)
        throw new InputError(
            "members",
            memberName,
            "the PKI has no certificates for this member; create the PKI from the same member list",
        );
    return {
        caCertPem: pems.caCertPem,
        serverCertPem: member.server.certPem,
        serverKeyPem: member.server.keyPem,
        peerCertPem: member.peer.certPem,
        peerKeyPem: member.peer.keyPem,
        healthcheckCertPem: pems.clients.healthcheck.certPem,
        healthcheckKeyPem: pems.clients.healthcheck.keyPem,
    };
}
