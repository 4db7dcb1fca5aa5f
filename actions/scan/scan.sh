#!/usr/bin/env bash
# The body of actions/scan: inputs come as INPUT_* variables (never interpolated into the script).
set -euo pipefail
fail() { echo "::error title=stella scan::$*" >&2; exit 1; }
[[ -n ${INPUT_IMAGE:-} ]] || fail "the input 'image' is empty: pass an image reference, oci:DIR[:TAG], or a directory"
format=${INPUT_FORMAT:-cyclonedx-json}
case $format in
  cyclonedx-json) ext=cdx.json ;;
  spdx-json) ext=spdx.json ;;
  *) fail "the input 'format' is '$format': use cyclonedx-json or spdx-json" ;;
esac
sbom=${INPUT_OUTPUT:-${RUNNER_TEMP:-$(mktemp -d)}/sbom.$ext}
source=$INPUT_IMAGE
# A directory of the workspace is scanned as a root file system.
if [[ -d $source && $source != oci:* ]]; then source="dir:$source"; fi
args=(scan "$source" --format "$format" --output "$sbom" --view "${INPUT_VIEW:-inventory}" --outputs "${GITHUB_OUTPUT:-/dev/null}")
[[ ${INPUT_SUMMARY:-true} == true && -n ${GITHUB_STEP_SUMMARY:-} ]] && args+=(--summary "$GITHUB_STEP_SUMMARY")
[[ -n ${INPUT_PLATFORM:-} ]] && args+=(--platform "$INPUT_PLATFORM")
[[ ${INPUT_INSECURE:-false} == true ]] && args+=(--insecure)
stella "${args[@]}" || fail "stella scan of $INPUT_IMAGE failed (exit $?); see its message above"
if [[ ${INPUT_PUSH:-false} == true ]]; then
  [[ -d $INPUT_IMAGE ]] && fail "push: a directory is not an image; scan the image to attach the SBOM to it"
  push=(sbom push "$INPUT_IMAGE" --sbom "$sbom")
  [[ -n ${INPUT_PLATFORM:-} ]] && push+=(--platform "$INPUT_PLATFORM")
  [[ ${INPUT_INSECURE:-false} == true ]] && push+=(--insecure)
  stella "${push[@]}" || fail "attaching the SBOM to $INPUT_IMAGE failed; see the message above"
fi
if [[ ${INPUT_DEPENDENCY_SUBMISSION:-false} == true ]]; then
  GITHUB_TOKEN=${INPUT_TOKEN:-${GITHUB_TOKEN:-}} stella sbom submit-github "$sbom" \
    || fail "the upload to GitHub's dependency graph failed; the job needs 'permissions: contents: write'"
fi
