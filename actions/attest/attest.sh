#!/usr/bin/env bash
# The body of actions/attest: inputs come as INPUT_* variables (never interpolated into the script).
set -euo pipefail
fail() { echo "::error title=stella attest::$*" >&2; exit 1; }
[[ -n ${INPUT_IMAGE:-} ]] || fail "the input 'image' is empty: pass the pushed image, e.g. ghcr.io/\${{ github.repository }}@\${{ steps.build.outputs.digest }}"
[[ -n ${INPUT_SERVER:-} ]] || fail "the input 'server' is empty: pass the stack's URL, e.g. \${{ vars.STELLA_SERVER }}"
if [[ -z ${ACTIONS_ID_TOKEN_REQUEST_URL:-} || -z ${ACTIONS_ID_TOKEN_REQUEST_TOKEN:-} ]] && [[ -z ${STELLA_ID_TOKEN:-} ]]; then
  if [[ -n ${INPUT_POE:-} ]]; then
    fail "this job cannot request an OIDC token: add 'permissions: id-token: write' to the job (or the workflow)"
  fi
  echo "::warning title=stella attest::no OIDC token available (the job lacks 'permissions: id-token: write'); trying the stack's dev identity, which only a stack on its embedded default offers"
fi
work=${RUNNER_TEMP:-$(mktemp -d)}
args=(attest "$INPUT_IMAGE" --server "$INPUT_SERVER" --audience "${INPUT_AUDIENCE:-stella}"
  --signing "${INPUT_SIGNING:-keyless}" --bundle-out "$work/stella-attestation.sigstore.json")
[[ -n ${INPUT_SBOM:-} ]] && args+=(--sbom "$INPUT_SBOM")
[[ -n ${INPUT_POLICY:-} ]] && args+=(--policy "$INPUT_POLICY")
[[ -n ${INPUT_PLATFORM:-} ]] && args+=(--platform "$INPUT_PLATFORM")
[[ ${INPUT_PUSH:-true} == true ]] || args+=(--no-push)
[[ ${INPUT_INSECURE:-false} == true ]] && args+=(--insecure)
umask 077
if [[ -n ${INPUT_POE:-} ]]; then
  [[ -n ${INPUT_KEY:-} ]] || fail "the input 'poe' is set but 'key' is empty: pass the DPoP key the PoE was enrolled with (a secret)"
  printf '%s\n' "$INPUT_POE" > "$work/stella-poe.jwt"
  args+=(--poe "$work/stella-poe.jwt")
fi
if [[ -n ${INPUT_KEY:-} ]]; then
  printf '%s\n' "$INPUT_KEY" > "$work/stella-dpop-key.pem"
  args+=(--key "$work/stella-dpop-key.pem")
else
  args+=(--key "$work/stella-dpop-key.pem")
fi
out=${GITHUB_OUTPUT:-/dev/null}
args+=(--outputs "$out")
status=0
stella "${args[@]}" || status=$?
rm -f "$work/stella-poe.jwt"
[[ -n ${INPUT_KEY:-} ]] && rm -f "$work/stella-dpop-key.pem"
case $status in
  0) ;;
  6) fail "no SBOM to attest: build with 'sbom: generator=…' (docker/build-push-action) or pass the input 'sbom'" ;;
  *) fail "stella attest failed (exit $status); see its message above" ;;
esac
