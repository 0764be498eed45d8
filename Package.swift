// swift-tools-version:6.2
import PackageDescription

let package = Package(
  name: "etcd-snapshot",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "etcd-snapshot", targets: ["etcd-snapshot"])
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
  ],
  targets: [
    // Pure core: naming, retention, configuration, errors. No I/O beyond Foundation values.
    .target(
      name: "SnapshotCore",
      dependencies: ["CEtcdShims", .product(name: "Crypto", package: "swift-crypto")]
    ),
    // The S3 protocol as pure code: SigV4 signing, URI encoding, XML, multipart bookkeeping,
    // responses, error classification, proxy selection, credentials files and answers. Used
    // by the storage layer only.
    .target(
      name: "S3Protocol",
      dependencies: ["SnapshotCore", .product(name: "Crypto", package: "swift-crypto")]
    ),
    // The one file-system layer: write-all loops, positioned reads, fsync of files and
    // directories, rename, parent paths, errno text, and their mapping to SnapshotError.
    .target(name: "SystemFiles", dependencies: ["SnapshotCore"]),
    // C helpers for the core: CRC-32C with the SSE4.2 instruction (and a software fallback).
    .target(name: "CEtcdShims"),
    // The system's libzstd and zlib (Debian: libzstd-dev, zlib1g-dev), for the pipeline's stages.
    .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
    .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
    // The age v1 encryption format (age-encryption.org/v1), written from its spec: X25519 and
    // scrypt recipients, the header and its MAC, the 64 KiB STREAM payload, rekeying.
    .target(
      name: "AgeFormat",
      dependencies: [.product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto")]
    ),
    // The byte pipeline's stages: compression (zstd, gzip, k3s's zip), later encryption; and
    // telling a stored file's format by its first bytes.
    .target(name: "SnapshotPipeline", dependencies: ["SnapshotCore", "EtcdFormats", "AgeFormat", "CZstd", "CZlib"]),
    // Generated protobuf messages and client stubs (regenerate with scripts/gen-protos.sh).
    .target(
      name: "EtcdProto",
      dependencies: [
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
      ]
    ),
    // On-disk formats: the snapshot SHA-256 trailer, bbolt reading.
    .target(
      name: "EtcdFormats",
      dependencies: ["SnapshotCore", "SystemFiles", .product(name: "Crypto", package: "swift-crypto")]
    ),
    // gRPC to etcd: TLS, auth, endpoint selection, the snapshot stream.
    .target(
      name: "EtcdClient",
      dependencies: [
        "SnapshotCore", "SystemFiles", "EtcdProto",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // Where snapshots live: the local directory store and S3-compatible object storage.
    .target(
      name: "SnapshotStorage",
      dependencies: [
        "SnapshotCore", "SystemFiles", "S3Protocol", "EtcdFormats", "SnapshotPipeline",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Crypto", package: "swift-crypto"),
      ]
    ),
    // Use cases shared by the CLI and (later) the agent.
    .target(
      name: "EtcdSnapshot",
      dependencies: [
        "SnapshotCore", "SystemFiles", "EtcdFormats", "EtcdClient", "SnapshotStorage", "SnapshotPipeline", "AgeFormat",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Crypto", package: "swift-crypto"),
      ]
    ),
    // `etcd-snapshot agent`: the scheduler, retention after success, failure hooks, metrics
    // and the HTTP server, as swift-service-lifecycle services over the same use cases.
    .target(
      name: "EtcdSnapshotAgent",
      dependencies: [
        "SnapshotCore", "EtcdSnapshot", "EtcdClient", "SnapshotStorage",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdCore", package: "hummingbird"),
        .product(name: "HummingbirdTLS", package: "hummingbird"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ]
    ),
    // The configuration layer under the CLI (and the agent): config files, ETCD_SNAPSHOT_*
    // variables and flags, merged with the origin of every value.
    .target(
      name: "SnapshotSettings",
      dependencies: ["SnapshotCore", .product(name: "Yams", package: "Yams")]
    ),
    .executableTarget(
      name: "etcd-snapshot",
      dependencies: [
        "SnapshotCore", "SystemFiles", "SnapshotSettings", "EtcdSnapshot", "EtcdSnapshotAgent", "EtcdClient", "EtcdFormats",
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Yams", package: "Yams"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ]
    ),
    // Test harness shared by the test targets: real etcd processes, certificates, child processes.
    .target(
      name: "EtcdTestSupport",
      path: "Tests/EtcdTestSupport"
    ),
    .testTarget(
      name: "SnapshotCoreTests",
      dependencies: [
        "SnapshotCore", "EtcdTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
      ]
    ),
    .testTarget(
      name: "EtcdFormatsTests",
      dependencies: [
        "EtcdFormats", "SnapshotCore", "EtcdTestSupport",
        .product(name: "PropertyBased", package: "swift-property-based"),
        .product(name: "Crypto", package: "swift-crypto"),
      ],
      // Inputs read through #filePath by SnapshotFuzzTests, not resources of the test bundle.
      exclude: ["Fixtures"]
    ),
    // age: C2SP's CCTV test vectors (read through #filePath), round trips, tampering, rekey.
    .testTarget(
      name: "AgeFormatTests",
      dependencies: ["AgeFormat", "EtcdTestSupport", .product(name: "Crypto", package: "swift-crypto")],
      exclude: ["testdata"]
    ),
    // The pipeline's stages against the zstd, gzip and unzip tools and Python's zipfile.
    .testTarget(
      name: "SnapshotPipelineTests",
      dependencies: ["SnapshotPipeline", "SnapshotCore", "EtcdTestSupport", .product(name: "Crypto", package: "swift-crypto")]
    ),
    .testTarget(
      name: "S3ProtocolTests",
      dependencies: [
        "S3Protocol", "SnapshotCore", "EtcdTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
      ]
    ),
    .testTarget(
      name: "SystemFilesTests",
      dependencies: [
        "SystemFiles", "SnapshotCore", "EtcdTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
      ]
    ),
    .testTarget(
      name: "SnapshotSettingsTests",
      dependencies: ["SnapshotSettings", "SnapshotCore", "EtcdTestSupport"]
    ),
    .testTarget(
      name: "SnapshotStorageTests",
      dependencies: ["SnapshotStorage", "SnapshotCore", "EtcdTestSupport"]
    ),
    // The etcd client against real etcd processes.
    .testTarget(
      name: "EtcdClientTests",
      dependencies: [
        "EtcdClient", "SnapshotCore", "EtcdTestSupport", .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    // The use cases over in-memory and real-directory locations: catalog, delete, prune.
    .testTarget(
      name: "EtcdSnapshotTests",
      dependencies: [
        "EtcdSnapshot", "SnapshotStorage", "SnapshotCore", "EtcdTestSupport",
        .product(name: "PropertyBased", package: "swift-property-based"),
      ]
    ),
    // The agent's pure logic: health, addresses, tokens, escaping, configuration changes.
    .testTarget(
      name: "EtcdSnapshotAgentTests",
      dependencies: [
        "EtcdSnapshotAgent", "SnapshotCore", "EtcdTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
      ]
    ),
    // Runs the built executable against real etcd processes on 127.0.0.1.
    .testTarget(
      name: "IntegrationTests",
      dependencies: [
        "etcd-snapshot", "EtcdSnapshot", "SnapshotCore", "S3Protocol", "EtcdTestSupport", .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Yams", package: "Yams"),
      ]
    ),
  ]
)
