#!/usr/bin/env bash
# Lints the Swift sources with the toolchain's swift-format and the checked-in .swift-format.
# Generated code (Sources/EtcdProto) is left as protoc wrote it.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- 'Package.swift' 'Sources/*.swift' 'Tests/*.swift' | grep -v '^Sources/EtcdProto/')
swift format lint --strict --parallel "${files[@]}"
echo "swift-format: ${#files[@]} files clean"
