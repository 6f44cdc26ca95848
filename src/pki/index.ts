/** The pki module: cfssl-equivalent certificate functions and the Pulumi resources built on them. */
export * from "./cfssl-types";
export {
    CFSSL_EXT_KEY_USAGES,
    CFSSL_KEY_USAGES,
    CFSSL_USAGE_NAMES,
    ResolvedProfile,
    SUPPORTED_ECDSA_SIZES,
    SUPPORTED_RSA_SIZES,
    ValidateCsrOptions,
    classifySubjectAltNames,
    keyRequestOf,
    mapUsages,
    resolveProfile,
    validateCsr,
} from "./cfssl-validate";
export { parseGoDuration } from "./duration";
export { CertificateDescription, describeCertificate } from "./der-reader";
export { generateKeyPem, generateKeyPemAsync, publicKeyFingerprint } from "./keys";
export { GenCertArgs, certificateMatchesKey, checkIssuer, genCert, initCa, isIssuedBy } from "./cfssl";
export {
    Certificate,
    CertificateArgs,
    CertificateAuthority,
    CertificateAuthorityArgs,
    ExistingCertificate,
    PkiProviderInputs,
    PkiProviderOutputs,
    pkiProvider,
    renewalDue,
    validatePkiInputs,
} from "./resources";
