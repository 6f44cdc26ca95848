import { genCert, initCa } from "./cfssl";
import { CertificateKeyPair, ETCD_CLIENT_COMMON_NAMES, EtcdClientName, EtcdPkiPems, EtcdPkiPlan } from "./etcd-pki-plan";

/**
 * Issues a whole etcd PKI at once, without Pulumi: for scripts, tests and the
 * demo. Components use the `Certificate` resources instead, so keys are made
 * once and kept in state.
 */
export function issueEtcdPki(
    plan: EtcdPkiPlan,
    existingCa?: { certPem: string; keyPem: string },
): EtcdPkiPems<string> & { caKeyPem: string } {
    const ca = existingCa ?? initCa(plan.caCsr);
    const issued = new Map<string, CertificateKeyPair<string>>();
    for (const planned of plan.certificates) {
        const pems = genCert({
            caCertPem: ca.certPem,
            caKeyPem: ca.keyPem,
            config: plan.config,
            profile: planned.profile,
            csr: planned.csr,
        });
        issued.set(planned.id, { certPem: pems.certPem, keyPem: pems.keyPem });
    }
    const members: EtcdPkiPems<string>["members"] = {};
    for (const planned of plan.certificates) {
        if (planned.member === undefined || members[planned.member]) continue;
        members[planned.member] = { server: issued.get(`${planned.member}-server`)!, peer: issued.get(`${planned.member}-peer`)! };
    }
    const clients = Object.fromEntries(
        (Object.keys(ETCD_CLIENT_COMMON_NAMES) as EtcdClientName[]).map((client) => [client, issued.get(`${client}-client`)!]),
    ) as Record<EtcdClientName, CertificateKeyPair<string>>;
    return { caCertPem: ca.certPem, caKeyPem: ca.keyPem, members, clients };
}
