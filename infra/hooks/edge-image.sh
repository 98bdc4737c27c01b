#!/bin/sh
# azd postdeploy hook: builds the edge image (edge/Dockerfile) in the azd environment's container registry with
# `az acr build` (no Docker on the deploying machine), tags it with the source's git commit (or the time, outside
# git), records it as EDGE_IMAGE in the azd environment and runs `azd provision` again, which creates or updates the
# edge's container groups with that image. Later provisions read EDGE_IMAGE, so they keep the image that runs.
# An unchanged commit whose image is already running is not built again.
set -eu
cd "$(dirname "$0")/../.."
: "${AZURE_CONTAINER_REGISTRY_NAME:?run azd provision first: the registry name comes from its outputs}"
: "${AZURE_CONTAINER_REGISTRY_ENDPOINT:?run azd provision first}"
tag=$(git rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)
if [ -n "$(git status --porcelain 2>/dev/null || true)" ]; then tag="$tag-dirty-$(date -u +%Y%m%d%H%M%S)"; fi
image="$AZURE_CONTAINER_REGISTRY_ENDPOINT/mail-edge:$tag"
if [ "${EDGE_IMAGE:-}" = "$image" ]; then
  echo "edge image $image already deployed"
  exit 0
fi
echo "building $image in $AZURE_CONTAINER_REGISTRY_NAME"
az acr build --registry "$AZURE_CONTAINER_REGISTRY_NAME" --image "mail-edge:$tag" --file edge/Dockerfile .
azd env set EDGE_IMAGE "$image"
azd provision --no-prompt
echo "edge running $image; DNS records to publish: azd env get-values | grep -E 'DNS_RECORDS|EDGE_MX_HOSTS|SMART_HOST'"
