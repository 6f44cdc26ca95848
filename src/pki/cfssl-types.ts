import { InputError } from "../errors";

/**
 * Typed equivalents of the JSON documents cfssl reads (`ca-csr.json`,
 * `etcd-csr.json`, `ca-config.json`). Field names are cfssl's, so a user's
 * existing files can be passed as they are (`JSON.parse` of the file).
 */

/** One entry of a CSR's `names` list: subject attributes. Several entries are merged as cfssl does. */
export interface CfsslName {
    C?: string;
    ST?: string;
    L?: string;
    O?: string;
    OU?: string;
}

/** `key` of a CSR. cfssl's default when absent is ECDSA P-256 (`{"algo": "ecdsa", "size": 256}`). */
export interface CfsslKeyRequest {
    algo: "rsa" | "ecdsa";
    /** RSA: 2048, 3072 or 4096 bits. ECDSA: curve size 256, 384 or 521. */
    size: number;
}

/** `ca` section of a CSR: only meaningful for `initCa` (cfssl: "ca section only permitted in initca"). */
export interface CfsslCaConstraints {
    /** Lifetime of the CA certificate, Go duration. Default "43800h" (5 years), as cfssl. */
    expiry?: string;
    /** Maximum number of intermediate CAs below this one. 0 (default) = no limit unless `pathlenzero`. */
    pathlen?: number;
    /** With pathlen 0: encode pathlen 0 (no intermediates). Ignored when pathlen is not 0, as cfssl. */
    pathlenzero?: boolean;
    /** How far notBefore is set in the past, Go duration. Default "5m", as cfssl. */
    backdate?: string;
}

/** A cfssl certificate signing request document (`*-csr.json`). */
export interface CfsslCsr {
    CN: string;
    /** Subject alternative names: IPs become IP SANs, e-mail addresses e-mail SANs, URIs URI SANs, the rest DNS names. */
    hosts?: string[];
    key?: CfsslKeyRequest;
    names?: CfsslName[];
    ca?: CfsslCaConstraints;
}

/** `ca_constraint` of a signing profile: issue (intermediate) CA certificates from this profile. */
export interface CfsslCaConstraint {
    is_ca?: boolean;
    max_path_len?: number;
    max_path_len_zero?: boolean;
}

/** A signing profile of `ca-config.json` (`signing.default` or `signing.profiles.<name>`). */
export interface CfsslSigningProfile {
    /** Lifetime of issued certificates, Go duration ("87600h"). Required, as cfssl requires it. */
    expiry?: string;
    /** Key usage and extended key usage names, as cfssl spells them ("signing", "server auth", …). */
    usages?: string[];
    /** How far notBefore is set in the past, Go duration. Default "5m", as cfssl. */
    backdate?: string;
    ca_constraint?: CfsslCaConstraint;
}

/** `ca-config.json`. */
export interface CfsslConfig {
    signing: {
        default?: CfsslSigningProfile;
        profiles?: Record<string, CfsslSigningProfile>;
    };
}

/** What `cfssl gencert … | cfssljson -bare name` writes: name.pem, name-key.pem, name.csr. */
export interface CertificatePems {
    certPem: string;
    keyPem: string;
    csrPem: string;
}

/**
 * Bad input to the PKI functions or resources, found before anything is
 * generated. The message names the argument, the bad value and the fix.
 * Private keys are never echoed: callers pass a description instead.
 */
export class PkiInputError extends InputError {
    constructor(
        readonly argument: string,
        readonly value: unknown,
        readonly fix: string,
    ) {
        super(argument, value, fix);
        this.name = "PkiInputError";
    }
}
