/**
 * Pulumi dynamic resources over the cfssl equivalent: a key and certificate
 * are generated once in `create`, kept in state (keys as secrets), and
 * replaced — never updated — when their inputs change or when they come
 * within `earlyRenewalHours` of expiry. The renewal check runs in `diff`, so
 * a plain `pulumi preview` shows it (with @pulumi/tls it only acted on
 * refresh: pulumi-tls#39).
 *
 * The provider is serialized into the state by Pulumi; it only captures this
 * module's functions, ./cfssl and the modules it is built from (by value) and
 * node-forge / crypto (by require).
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { certificateMatchesKey, checkIssuer, genCert, initCa, isIssuedBy } from "./cfssl";
import { keyRequestOf, resolveProfile, validateCsr } from "./cfssl-validate";
import { describeCertificate } from "./der-reader";
import { generateKeyPemAsync, publicKeyFingerprint } from "./keys";
import { CfsslConfig, CfsslCsr, PkiInputError } from "./cfssl-types";

export interface ExistingCertificate {
    certPem: pulumi.Input<string>;
    /** Secret. */
    keyPem: pulumi.Input<string>;
}

export interface CertificateAuthorityArgs {
    /** The CA's cfssl CSR document (ca-csr.json), `ca` section included. */
    csr: pulumi.Input<CfsslCsr>;
    /** Replace the CA once it is this close to expiry (checked on every preview). Default 0: only once expired. */
    earlyRenewalHours?: pulumi.Input<number>;
    /** Adopt an existing CA (cert + key) instead of generating one; it is checked, never regenerated. Default none. */
    existing?: pulumi.Input<ExistingCertificate>;
}

export interface CertificateArgs {
    caCertPem: pulumi.Input<string>;
    /** Secret. */
    caKeyPem: pulumi.Input<string>;
    /** cfssl's ca-config.json. */
    config: pulumi.Input<CfsslConfig>;
    /** Signing profile; default: the config's default profile. */
    profile?: pulumi.Input<string>;
    /** The cfssl CSR document (e.g. etcd-csr.json). */
    csr: pulumi.Input<CfsslCsr>;
    /** Replace the certificate once it is this close to expiry (checked on every preview). Default 0: only once expired. */
    earlyRenewalHours?: pulumi.Input<number>;
    /** Adopt an existing certificate + key signed by this CA instead of generating one. Default none. */
    existing?: pulumi.Input<ExistingCertificate>;
    /** Refuse a CSR without hosts (server and peer certificates). Default false. */
    requireHosts?: pulumi.Input<boolean>;
}

type Kind = "CertificateAuthority" | "Certificate";

/** Inputs as the provider receives them (plain values; unknowns during preview are UNKNOWN). */
export interface PkiProviderInputs {
    kind: Kind;
    csr: CfsslCsr;
    earlyRenewalHours?: number;
    existing?: { certPem: string; keyPem: string };
    caCertPem?: string;
    caKeyPem?: string;
    config?: CfsslConfig;
    profile?: string;
    requireHosts?: boolean;
}

export interface PkiProviderOutputs {
    kind: Kind;
    certPem: string;
    keyPem: string;
    /** Empty for adopted certificates. */
    csrPem: string;
    notBefore: string;
    notAfter: string;
    serialNumber: string;
    adopted: boolean;
    earlyRenewalHours: number;
    requireHosts: boolean;
    /** Per replacing input, a digest (public-key fingerprints for keys): lets diff see changes without keeping secrets in plain state. */
    inputDigests: Record<string, string>;
}

/** Pulumi's marker for values not known during preview (runtime/rpc unknownValue). */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Inputs whose change gives a different certificate: they replace. */
const REPLACING_INPUTS = ["csr", "config", "profile", "caCertPem", "caKeyPem", "existing"] as const;

function containsUnknown(value: unknown): boolean {
    if (value === UNKNOWN) return true;
    if (Array.isArray(value)) return value.some(containsUnknown);
    if (typeof value === "object" && value !== null) return Object.values(value).some(containsUnknown);
    return false;
}

function known<T>(value: T | undefined): value is T {
    return value !== undefined && !containsUnknown(value);
}

function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    if (typeof value === "object" && value !== null) {
        const entries = Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
}

const sha256 = (text: string): string => crypto.createHash("sha256").update(text).digest("hex");

function keyDigest(keyPem: string): string {
    try {
        return `public-key:${publicKeyFingerprint(keyPem)}`;
    } catch {
        return "invalid-key";
    }
}

/** Digest of one replacing input; "unknown" never equals a stored digest, so unknowns replace. */
export function inputDigest(inputs: PkiProviderInputs, key: (typeof REPLACING_INPUTS)[number]): string {
    const value = key === "profile" && inputs.profile === "" ? undefined : inputs[key];
    if (value === undefined) return "absent";
    if (containsUnknown(value)) return "unknown";
    if (key === "caKeyPem") return keyDigest(value as string);
    if (key === "existing") {
        const existing = value as { certPem: string; keyPem: string };
        return sha256(canonicalJson({ certPem: existing.certPem, key: keyDigest(existing.keyPem) }));
    }
    return sha256(canonicalJson(value));
}

function inputDigests(inputs: PkiProviderInputs): Record<string, string> {
    return Object.fromEntries(REPLACING_INPUTS.map((key) => [key, inputDigest(inputs, key)]));
}

function earlyRenewalHoursOf(inputs: PkiProviderInputs): number {
    return typeof inputs.earlyRenewalHours === "number" ? inputs.earlyRenewalHours : 0;
}

/** True once `now` is within `earlyRenewalHours` of `notAfter` (or past it). */
export function renewalDue(notAfterIso: string, earlyRenewalHours: number, now: Date = new Date()): boolean {
    const notAfter = Date.parse(notAfterIso);
    if (Number.isNaN(notAfter)) return true;
    return now.getTime() >= notAfter - earlyRenewalHours * 3_600_000;
}

/**
 * Everything `create` would refuse, checked on the known parts of the inputs
 * (unknown parts are checked again when known). Throws PkiInputError.
 */
export function validatePkiInputs(inputs: PkiProviderInputs): void {
    const isCa = inputs.kind === "CertificateAuthority";
    if (inputs.kind !== "CertificateAuthority" && inputs.kind !== "Certificate") {
        throw new PkiInputError("kind", inputs.kind, "internal: use the CertificateAuthority or Certificate resource");
    }
    const adopting = inputs.existing !== undefined;
    const requireHosts = inputs.requireHosts === true;
    if (known(inputs.csr)) {
        validateCsr(inputs.csr, "csr", { requireHosts, purpose: isCa ? "ca" : "certificate", keyPemGiven: adopting });
    }
    const hours = inputs.earlyRenewalHours;
    if (known(hours) && (typeof hours !== "number" || !Number.isFinite(hours) || hours < 0)) {
        throw new PkiInputError("earlyRenewalHours", hours, "give a number of hours ≥ 0, e.g. 720 for 30 days");
    }
    if (!isCa) {
        if (known(inputs.config)) resolveProfile(inputs.config, known(inputs.profile) ? inputs.profile : undefined, "config");
        if (known(inputs.caCertPem) && known(inputs.caKeyPem)) checkIssuer(inputs.caCertPem, inputs.caKeyPem);
    }
    if (known(inputs.existing)) validateExisting(inputs, isCa);
}

function validateExisting(inputs: PkiProviderInputs, isCa: boolean): void {
    const existing = inputs.existing!;
    if (typeof existing !== "object" || existing === null) {
        throw new PkiInputError("existing", "<not an object>", "give { certPem, keyPem } of the certificate to adopt");
    }
    const description = describeCertificate(existing.certPem, "existing.certPem");
    if (!certificateMatchesKey(existing.certPem, existing.keyPem, "existing.keyPem", "existing.certPem")) {
        throw new PkiInputError(
            "existing.keyPem",
            "<private key>",
            "this key does not belong to existing.certPem: pass the certificate's own key",
        );
    }
    if (isCa && !description.isCa) {
        throw new PkiInputError(
            "existing.certPem",
            `certificate for ${JSON.stringify(description.subject)}`,
            "this is not a CA certificate (CA:FALSE): pass the CA's certificate",
        );
    }
    if (!isCa && known(inputs.caCertPem)) {
        describeCertificate(inputs.caCertPem, "caCertPem"); // a readable CA first, so the failure names the right input
        if (isIssuedBy(existing.certPem, inputs.caCertPem)) return;
        throw new PkiInputError(
            "existing.certPem",
            `certificate for ${JSON.stringify(description.subject)}`,
            "this certificate was not issued by caCertPem: adopt it together with its own CA, or let it be generated",
        );
    }
}

function outputsFor(
    inputs: PkiProviderInputs,
    pems: { certPem: string; keyPem: string; csrPem: string },
    adopted: boolean,
): PkiProviderOutputs {
    const d = describeCertificate(pems.certPem);
    return {
        kind: inputs.kind,
        certPem: pems.certPem,
        keyPem: pems.keyPem,
        csrPem: pems.csrPem,
        notBefore: d.notBefore.toISOString(),
        notAfter: d.notAfter.toISOString(),
        serialNumber: d.serialHex,
        adopted,
        earlyRenewalHours: earlyRenewalHoursOf(inputs),
        requireHosts: inputs.requireHosts === true,
        inputDigests: inputDigests(inputs),
    };
}

async function issue(inputs: PkiProviderInputs): Promise<{ certPem: string; keyPem: string; csrPem: string }> {
    // Keys are made off the event loop, so Pulumi's parallel creates overlap.
    const keyPem = await generateKeyPemAsync(keyRequestOf(inputs.csr, "csr"));
    if (inputs.kind === "CertificateAuthority") return initCa(inputs.csr, { keyPem });
    return genCert({
        caCertPem: inputs.caCertPem!,
        caKeyPem: inputs.caKeyPem!,
        config: inputs.config!,
        profile: inputs.profile,
        csr: inputs.csr,
        keyPem,
        requireHosts: inputs.requireHosts === true,
    });
}

function failureOf(error: unknown): pulumi.dynamic.CheckFailure {
    if (error instanceof PkiInputError) return { property: error.argument.split(/[.[]/)[0], reason: error.message };
    return { property: "", reason: error instanceof Error ? error.message : String(error) };
}

/** One provider for both resources (told apart by the `kind` input); exported so tests can drive it directly. */
export const pkiProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: PkiProviderInputs, news: PkiProviderInputs): Promise<pulumi.dynamic.CheckResult> {
        try {
            validatePkiInputs(news);
            return { inputs: news, failures: [] };
        } catch (error) {
            return { inputs: news, failures: [failureOf(error)] };
        }
    },

    async create(inputs: PkiProviderInputs): Promise<pulumi.dynamic.CreateResult> {
        validatePkiInputs(inputs);
        const adopted = inputs.existing !== undefined;
        const pems = adopted ? { certPem: inputs.existing!.certPem, keyPem: inputs.existing!.keyPem, csrPem: "" } : await issue(inputs);
        const outs = outputsFor(inputs, pems, adopted);
        return { id: outs.serialNumber, outs };
    },

    async diff(_id: string, olds: PkiProviderOutputs, news: PkiProviderInputs): Promise<pulumi.dynamic.DiffResult> {
        const stored = olds.inputDigests ?? {};
        const replaces: string[] = REPLACING_INPUTS.filter((key) => stored[key] !== inputDigest(news, key));
        const adopting = news.existing !== undefined;
        const hours = known(news.earlyRenewalHours) ? earlyRenewalHoursOf(news) : 0;
        if (!adopting && renewalDue(olds.notAfter, hours) && !replaces.includes("earlyRenewalHours")) {
            replaces.push("earlyRenewalHours");
        }
        // Renewal policy and host checking do not change the certificate: updated in place.
        const settingsChanged =
            !known(news.earlyRenewalHours) ||
            earlyRenewalHoursOf(news) !== olds.earlyRenewalHours ||
            (news.requireHosts === true) !== olds.requireHosts;
        return { changes: replaces.length > 0 || settingsChanged, replaces, deleteBeforeReplace: false };
    },

    async update(_id: string, olds: PkiProviderOutputs, news: PkiProviderInputs): Promise<pulumi.dynamic.UpdateResult> {
        const changed = REPLACING_INPUTS.filter((key) => (olds.inputDigests ?? {})[key] !== inputDigest(news, key));
        if (changed.length > 0) {
            throw new Error(`internal: ${changed.join(", ")} changed, which must replace the certificate, not update it`);
        }
        validatePkiInputs(news);
        return { outs: { ...olds, earlyRenewalHours: earlyRenewalHoursOf(news), requireHosts: news.requireHosts === true } };
    },
};

const PROVIDER_MODULE = "etcd-recovery";

/** Marks `keyPem` secret in state (additionalSecretOutputs) and in the program (pulumi.secret). */
function withSecretKey(opts: pulumi.CustomResourceOptions | undefined): pulumi.CustomResourceOptions {
    return { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "keyPem"] };
}

function secretOrUndefined<T>(value: pulumi.Input<T> | undefined): pulumi.Output<T> | undefined {
    return value === undefined ? undefined : (pulumi.secret(value) as pulumi.Output<T>);
}

const OUTPUT_PLACEHOLDERS = {
    certPem: undefined,
    keyPem: undefined,
    csrPem: undefined,
    notBefore: undefined,
    notAfter: undefined,
    serialNumber: undefined,
};

/** `cfssl gencert -initca ca-csr.json`, kept in state. */
export class CertificateAuthority extends pulumi.dynamic.Resource {
    public readonly certPem!: pulumi.Output<string>;
    /** Secret. */
    public readonly keyPem!: pulumi.Output<string>;
    public readonly csrPem!: pulumi.Output<string>;
    /** ISO 8601. */
    public readonly notBefore!: pulumi.Output<string>;
    /** ISO 8601. */
    public readonly notAfter!: pulumi.Output<string>;
    /** Hex. */
    public readonly serialNumber!: pulumi.Output<string>;

    constructor(name: string, args: CertificateAuthorityArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            pkiProvider,
            name,
            {
                kind: "CertificateAuthority",
                csr: args.csr,
                earlyRenewalHours: args.earlyRenewalHours ?? 0,
                existing: secretOrUndefined(args.existing),
                ...OUTPUT_PLACEHOLDERS,
            },
            withSecretKey(opts),
            PROVIDER_MODULE,
            "CertificateAuthority",
        );
        (this as { keyPem: pulumi.Output<string> }).keyPem = pulumi.secret(this.keyPem);
    }
}

/** `cfssl gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile=<profile> csr.json`, kept in state. */
export class Certificate extends pulumi.dynamic.Resource {
    public readonly certPem!: pulumi.Output<string>;
    /** Secret. */
    public readonly keyPem!: pulumi.Output<string>;
    public readonly csrPem!: pulumi.Output<string>;
    /** ISO 8601. */
    public readonly notBefore!: pulumi.Output<string>;
    /** ISO 8601. */
    public readonly notAfter!: pulumi.Output<string>;
    /** Hex. */
    public readonly serialNumber!: pulumi.Output<string>;

    constructor(name: string, args: CertificateArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            pkiProvider,
            name,
            {
                kind: "Certificate",
                caCertPem: args.caCertPem,
                caKeyPem: pulumi.secret(args.caKeyPem),
                config: args.config,
                profile: args.profile,
                csr: args.csr,
                earlyRenewalHours: args.earlyRenewalHours ?? 0,
                existing: secretOrUndefined(args.existing),
                requireHosts: args.requireHosts ?? false,
                ...OUTPUT_PLACEHOLDERS,
            },
            withSecretKey(opts),
            PROVIDER_MODULE,
            "Certificate",
        );
        (this as { keyPem: pulumi.Output<string> }).keyPem = pulumi.secret(this.keyPem);
    }
}
