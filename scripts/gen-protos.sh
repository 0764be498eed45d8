#!/usr/bin/env bash
# Regenerates Sources/EtcdProto from Protos/. Run by hand after changing a .proto; the output
# is committed, so builds and CI never need protoc or the plugins.
#
# Needs: protoc (Debian protobuf-compiler, 3.21.12 used), and the two plugins built once from
# the package mirror, in a folder named by PLUGIN_BIN:
#   git clone -b 1.39.0 https://github.com/apple/swift-protobuf.git sp &&
#     (cd sp && swift build -c release --product protoc-gen-swift)
#   git clone -b 2.4.1 https://github.com/grpc/grpc-swift-protobuf.git gsp &&
#     (cd gsp && swift build -c release --product protoc-gen-grpc-swift-2)
#   PLUGIN_BIN=... (a folder holding protoc-gen-swift and protoc-gen-grpc-swift-2)
set -euo pipefail
BIN=${PLUGIN_BIN:?set PLUGIN_BIN to the folder holding protoc-gen-swift and protoc-gen-grpc-swift-2}
cd "$(dirname "$0")/.."
OUT=Sources/EtcdProto
rm -f "$OUT"/*.pb.swift "$OUT"/*.grpc.swift
protoc --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" -I Protos \
  --swift_out="$OUT" --swift_opt=Visibility=Package \
  Protos/etcd_api.proto
protoc --plugin=protoc-gen-grpc-swift-2="$BIN/protoc-gen-grpc-swift-2" -I Protos \
  --grpc-swift-2_out="$OUT" \
  --grpc-swift-2_opt=Visibility=Package,Client=true,Server=false \
  Protos/etcd_api.proto
ls -l "$OUT"
