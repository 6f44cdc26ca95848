# shellcheck shell=bash
# Source me: puts the tools built by scripts/tools.sh first on PATH and makes
# the Pulumi CLI work offline. Sets no backend: callers (tests) choose their own.
#   source scripts/pulumi-env.sh
ETCD_RECOVERY_CACHE="${ETCD_RECOVERY_CACHE:-$HOME/.cache/etcd-recovery}"
export ETCD_RECOVERY_CACHE
case ":$PATH:" in
    *":$ETCD_RECOVERY_CACHE/bin:"*) ;;
    *) export PATH="$ETCD_RECOVERY_CACHE/bin:$PATH" ;;
esac
export PULUMI_HOME="${PULUMI_HOME:-$HOME/.pulumi}"
# Plugins and the CLI cannot be downloaded here: never try, never phone home.
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# No default passphrase: a fixed one would protect nobody's keys. Tests set
# their own per state directory; scripts/pulumi-offline makes a random one.
