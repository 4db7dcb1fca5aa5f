# docker buildx bake -f examples/buildkit/docker-bake.hcl [generator|frontend]
#
# REGISTRY: where the image and our generator/frontend images live (a local registry by default).
variable "REGISTRY" {
  default = "localhost:5000"
}
variable "STELLA_VERSION" {
  default = "0.1.0"
}

group "default" {
  targets = ["generator"]
}

# BuildKit's own SBOM pipeline with our generator image instead of its default Syft scanner: one
# SPDX statement for the image and one per scanned stage, stored in the image index.
target "generator" {
  context    = "examples/buildkit"
  dockerfile = "Dockerfile"
  platforms  = ["linux/amd64", "linux/arm64"]
  tags       = ["${REGISTRY}/example/app:generator"]
  attest = [
    "type=sbom,generator=${REGISTRY}/stella/generator:${STELLA_VERSION},mode=compact",
    "type=provenance,mode=max",
  ]
  output = ["type=registry"]
}

# Our gateway frontend wrapping the Dockerfile frontend: SPDX and CycloneDX attestations per platform,
# and the warmed-base fast path (only the layers the build added are scanned).
target "frontend" {
  inherits = ["generator"]
  tags     = ["${REGISTRY}/example/app:frontend"]
  attest   = ["type=provenance,mode=max"]
  args = {
    BUILDKIT_SYNTAX       = "${REGISTRY}/stella/frontend:${STELLA_VERSION}"
    STELLA_SBOM_CYCLONEDX = "true"
    STELLA_SBOM_VIEW      = "inventory"
  }
}
