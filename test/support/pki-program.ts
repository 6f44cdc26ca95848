/**
 * The one lifecycle every "EtcdPki from another language" program goes
 * through under the real engine (examples/yaml-pki, examples/python-pki):
 * `pulumi up` with the PEM outputs and secrets, private keys only as
 * ciphertext in the state, a preview without changes, and a destroy that
 * leaves nothing.
 */
import { SECRET_SIG } from "./secret-marker";
import { OfflineStack } from "./pulumi";

export async function expectPkiProgramLifecycle(stack: OfflineStack): Promise<void> {
    const up = await stack.stack.up();
    expect(up.summary.result).toBe("succeeded");
    expect(up.outputs.caCertPem!.value as string).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(up.outputs.apiserverClientCertPem!.value as string).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
    expect(up.outputs.caKeyPem!.secret).toBe(true);
    expect(up.outputs.etcd1ServerCertPem!.secret).toBe(true);
    // The component, its CA, 3 × (server, peer) and 3 client certificates, and the stack.
    expect(up.summary.resourceChanges).toEqual({ create: 12 });

    // Private keys only as ciphertext in the state.
    const state = await stack.readState();
    expect(state).not.toMatch(/PRIVATE KEY/);
    expect(state).toContain(SECRET_SIG);
    expect(state).toContain('"type": "etcd-recovery:index:EtcdPki"');

    const preview = await stack.stack.preview({ expectNoChanges: true });
    expect(Object.keys(preview.changeSummary)).toEqual(["same"]);

    const destroyed = await stack.stack.destroy();
    expect(destroyed.summary.result).toBe("succeeded");
    expect(JSON.parse(await stack.readState()).deployment.resources ?? []).toEqual([]);
}
