/**
 * Docker plans: plain data that says which networks, volumes and containers a
 * component wants. Components realize a plan with @pulumi/docker; the test
 * harness realizes the very same plan with the Docker engine, so what a
 * component declares is what the tests prove.
 */

/** A bridge network. `internal` networks have no route off the Docker host. */
export interface NetworkSpec {
    name: string;
    /** IPv4 subnet in CIDR form, e.g. "172.28.0.0/24". */
    subnet?: string;
    gateway?: string;
    internal?: boolean;
    labels?: Record<string, string>;
}

export interface VolumeSpec {
    name: string;
    labels?: Record<string, string>;
}

/**
 * A file placed into a container before it starts. `C` is the type of the
 * content: plain strings in plans and tests, `pulumi.Output<string>` when a
 * component plans with certificates it has not generated yet.
 */
export interface ContainerFile<C = string> {
    /** Absolute path inside the container. */
    path: string;
    /** UTF-8 content. Use `sourcePath` instead for large or binary files. */
    content?: C;
    /** A file on the machine that runs the deployment, copied as is. */
    sourcePath?: string;
    /** Octal file mode, e.g. 0o600 for private keys. */
    mode: number;
    /** True when the content is a private key or credential. */
    secret?: boolean;
}

export interface VolumeMount {
    /** Name of a VolumeSpec, or an absolute host path when `hostPath` is true. */
    source: string;
    target: string;
    hostPath?: boolean;
    readOnly?: boolean;
}

export interface PortMapping {
    internal: number;
    /** Host port; omitted means a free port chosen by the engine. */
    external?: number;
    /** Host address to bind; defaults to 127.0.0.1 (never all interfaces unless asked). */
    ip?: string;
}

/** Docker HEALTHCHECK in exec form (["CMD", ...]); images like registry.k8s.io/etcd have no shell. */
export interface HealthCheckSpec {
    test: string[];
    intervalSeconds: number;
    timeoutSeconds: number;
    retries: number;
    startPeriodSeconds: number;
}

export interface ContainerSpec<C = string> {
    name: string;
    image: string;
    /** Exec-form entrypoint; omitted keeps the image's. */
    entrypoint?: string[];
    /** Exec-form command (arguments). */
    command: string[];
    env?: Record<string, string>;
    files: ContainerFile<C>[];
    mounts: VolumeMount[];
    /** Attach to a network of the plan with a static address, use the host's network, or none at all. */
    network: { name: string; ipv4Address?: string; aliases?: string[] } | { host: true } | { none: true };
    ports?: PortMapping[];
    healthCheck?: HealthCheckSpec;
    /**
     * Seconds the deployment waits, after the start, for Docker to report the
     * container healthy (the provider's `wait`/`waitTimeout`; needs `healthCheck`).
     * Not healthy by then fails the create and so the update; the container is
     * left as it is and replaced by the next update that changes it.
     */
    waitHealthySeconds?: number;
    user?: string;
    hostname?: string;
    labels?: Record<string, string>;
    /**
     * One-shot containers (e.g. a snapshot restore) run to completion before
     * the containers that list them in `after` are started.
     */
    runToCompletion?: boolean;
    /**
     * A one-shot whose work is for the first deployment only (seeding a member's
     * data dir): later changes to it are ignored instead of replacing it, since
     * running it again on a data dir in use could only fail.
     */
    firstRunOnly?: boolean;
    /** Names of containers of the same plan that must be started (or completed) first. */
    after?: string[];
    restart?: "no" | "unless-stopped" | "always" | "on-failure";
    /**
     * The Docker engine that runs this container (e.g. "ssh://admin@10.0.0.5"),
     * for members spread over several machines; omitted means the default engine.
     */
    dockerHost?: string;
}

export interface DockerPlan<C = string> {
    networks: NetworkSpec[];
    volumes: VolumeSpec[];
    containers: ContainerSpec<C>[];
}
