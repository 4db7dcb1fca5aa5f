#!/usr/bin/env bash
# The body of actions/verify: inputs come as INPUT_* variables (never interpolated into the script).
set -euo pipefail
fail() { echo "::error title=stella verify::$*" >&2; exit 1; }
[[ -n ${INPUT_IMAGE:-} ]] || fail "the input 'image' is empty"
report=${RUNNER_TEMP:-$(mktemp -d)}/stella-verify.json
args=(verify "$INPUT_IMAGE" --format json)
[[ -n ${INPUT_POLICY:-} ]] && args+=(--policy "$INPUT_POLICY")
[[ -n ${INPUT_TRUSTED_ROOT:-} ]] && args+=(--trusted-root "$INPUT_TRUSTED_ROOT")
[[ -n ${INPUT_TRUST_DIR:-} ]] && args+=(--trust-dir "$INPUT_TRUST_DIR")
[[ -n ${INPUT_TRUST_BUNDLE:-} ]] && args+=(--trust-bundle "$INPUT_TRUST_BUNDLE")
[[ ${INPUT_OFFLINE:-false} == true ]] && args+=(--offline)
[[ -n ${INPUT_PLATFORM:-} ]] && args+=(--platform "$INPUT_PLATFORM")
[[ ${INPUT_INSECURE:-false} == true ]] && args+=(--insecure)
status=0
stella "${args[@]}" > "$report" || status=$?
cat "$report"
out=${GITHUB_OUTPUT:-/dev/null}
echo "report-path=$report" >> "$out"
case $status in
  0) echo "verified=true" >> "$out" ;;
  7) echo "verified=false" >> "$out"; fail "$INPUT_IMAGE is not verified: no attestation satisfies the policy (reasons above)" ;;
  8) echo "verified=false" >> "$out"; fail "the trust material is unusable (trusted-root, trust-dir or trust-bundle); see the message above" ;;
  *) echo "verified=false" >> "$out"; fail "stella verify failed (exit $status); see its message above" ;;
esac
