/**
 * An internal Docker network forwards nothing off the host, but the Docker
 * host's own addresses stay reachable from it: the bridge's gateway and the
 * host's address on every other bridge or interface, so any service the host
 * runs on 0.0.0.0 (a kubelet, an etcd, an SSH daemon of a production node)
 * answers a container on the recovery network. Measured in
 * test/integration/recovery-etcd34.test.ts.
 *
 * The guard closes that: one iptables rule on the Docker host drops new
 * connections from the recovery subnet to the host. Connections the host
 * opens (kubectl to the recovery API) still work: their replies are not NEW.
 * Pure: the commands as strings, for @pulumi/command's local.Command and for
 * the test harness, which runs the same strings.
 */
import { InputError } from "../errors";
import { assertDns1123Label } from "../etcd/topology";
import { parseIpv4Cidr } from "../net/ipv4";

export interface HostGuardCommands {
    /** Idempotent: inserts the rule unless it is there. */
    create: string;
    /** Idempotent: removes every copy of the rule. */
    delete: string;
    /** Exit code 0 when the rule is in place. */
    check: string;
    /** The rule, as iptables arguments after the chain operation. */
    rule: string[];
}

export function hostGuardRule(environmentName: string, subnet: string): string[] {
    assertDns1123Label(environmentName, "environmentName");
    const cidr = parseIpv4Cidr(subnet, "subnet");
    if (cidr.prefix < 16)
        throw new InputError("subnet", subnet, "the host guard blocks the whole subnet; use a /16 or smaller recovery subnet");
    return [
        "INPUT",
        "-s",
        subnet,
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-m",
        "comment",
        "--comment",
        `etcd-recovery:${environmentName}`,
        "-j",
        "DROP",
    ];
}

/** Shell commands (run as root on the Docker host); every word is validated above, so nothing needs quoting. */
export function hostGuardCommands(environmentName: string, subnet: string, iptables = "iptables"): HostGuardCommands {
    if (!/^[A-Za-z0-9_./-]+$/.test(iptables)) throw new InputError("iptables", iptables, "give the path of the iptables binary");
    const rule = hostGuardRule(environmentName, subnet);
    const spec = rule.join(" ");
    return {
        rule,
        check: `${iptables} -C ${spec}`,
        create: `${iptables} -C ${spec} 2>/dev/null || ${iptables} -I ${spec}`,
        delete: `while ${iptables} -D ${spec} 2>/dev/null; do :; done`,
    };
}
