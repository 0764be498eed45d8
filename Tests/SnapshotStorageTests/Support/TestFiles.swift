import EtcdTestSupport
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Runs `body` with a fresh empty directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
  let dir = try TemporaryDirectory(prefix: "storage")
  return try withExtendedLifetime(dir) { try body(dir.path) }
}

/// Runs `body` with a tmpfs mounted with `options`, unmounted afterwards; throws (failing the
/// test) when the mount cannot be made.
func withTmpfs<T>(options: String, _ body: (String) throws -> T) throws -> T {
  let mount = try TmpfsMount(options: options)
  return try body(mount.path)
}

/// Deterministic pseudo-random bytes.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
  var rng = SplitMix64(state: seed)
  return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}
