import EtcdTestSupport
import Foundation
import Testing

/// Snapshots compressed by others: k3s's `.zip` (as Go's archive/zip streams it), and files
/// made by the `zstd` and `gzip` tools. Every reader tells the format by content.
@Suite("compressed snapshots made by k3s and the tools: status, verify and restore read them", .serialized)
struct CompressedSnapshotTests {
  /// Zips `plain` as k3s does: one Deflate entry named as the snapshot, written to a stream
  /// (sizes in a data descriptor), as Go's archive/zip writes it.
  static let k3sZip = """
    import io, sys, zipfile
    src, out, entry = sys.argv[1], sys.argv[2], sys.argv[3]
    class Stream(io.RawIOBase):
        def __init__(self, f): self.f = f
        def writable(self): return True
        def write(self, b): return self.f.write(b)
    with open(out, "wb") as f:
        with zipfile.ZipFile(Stream(f), "w", compression=zipfile.ZIP_DEFLATED) as z:
            with open(src, "rb") as s, z.open(entry, "w") as e:
                while True:
                    b = s.read(1 << 20)
                    if not b: break
                    e.write(b)
    """

  struct Made {
    let work: TemporaryDirectory
    let server: EtcdServer
    let plain: String
    let dir: String
    /// Path of each compressed copy, by what made it.
    let copies: [String: String]
  }

  func make() async throws -> Made {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/configmaps/", count: 2000)
    try server.ctl(["put", "/registry/big", String(repeating: "v", count: 120_000)])
    let work = try TemporaryDirectory(prefix: "compressed")
    let saved = work.appending("saved")
    let r = try Tool.save(server, dir: saved)
    try #require(r.status == 0, "\(r)")
    let name = try #require(try Tool.list(saved).first?.name)
    let plain = saved + "/" + name
    // k3s keeps its snapshots in one directory: the zip is named NAME.zip.
    let dir = work.appending("k3s-snapshots")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let zip = dir + "/" + name + ".zip"
    try TestProcess.check("/usr/bin/env", ["python3", "-c", Self.k3sZip, plain, zip, name])
    let zst = dir + "/" + name + ".zst"
    try TestProcess.check("/bin/sh", ["-c", "zstd -q -3 -c \"$0\" > \"$1\"", plain, zst])
    let gz = dir + "/" + name + ".gz"
    try TestProcess.check("/bin/sh", ["-c", "gzip -c \"$0\" > \"$1\"", plain, gz])
    // Renamed by hand: the content says what it is, not the name.
    let renamed = dir + "/renamed-snapshot"
    try TestProcess.check("/bin/sh", ["-c", "zstd -q -1 -c \"$0\" > \"$1\"", plain, renamed])
    return Made(work: work, server: server, plain: plain, dir: dir, copies: ["zip": zip, "zstd": zst, "gzip": gz, "renamed": renamed])
  }

  /// Nothing but the copies in the directory: no expanded file or folder is left.
  func expectNoLeftovers(_ m: Made, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: m.dir).sorted()
    let expected = m.copies.values.map { SystemFileName.base($0) }.sorted()
    #expect(names == expected, "left in \(m.dir): \(names)", sourceLocation: sourceLocation)
  }

  @Test("status gives the same figures for every compressed copy as for the plain file; verify passes")
  func statusAndVerify() async throws {
    let m = try await make()
    // The plain file without its metadata record (which status shows too), as the copies are.
    let bare = m.work.appending("bare-copy")
    try FileManager.default.copyItem(atPath: m.plain, toPath: bare)
    let plainStatus = try Tool.run(["status", bare, "-o", "json"])
    try #require(plainStatus.status == 0, "\(plainStatus)")
    for (what, path) in m.copies.sorted(by: { $0.key < $1.key }) {
      let s = try Tool.run(["status", path, "-o", "json"])
      #expect(s.status == 0, "\(what): \(s)")
      #expect(s.stdout == plainStatus.stdout, "\(what): the figures of the plain file")
      let v = try Tool.run(["verify", path])
      #expect(v.status == 0 && v.stdout.contains("OK"), "\(what): \(v)")
    }
    // ls lists the copies by their file names, with the node and time of the plain one's name.
    let plainRow = try #require(try Tool.list(SystemFileName.parent(m.plain)).first)
    let rows = try Tool.list(m.dir)
    for what in ["zip", "zstd", "gzip"] {
      let fileName = SystemFileName.base(try #require(m.copies[what]))
      let row = try #require(rows.first { $0.name == fileName }, "\(what) is listed: \(rows)")
      #expect(row.node == plainRow.node && row.problem == nil, "\(what): \(row)")
    }
    try expectNoLeftovers(m)
  }

  @Test("restore of k3s's .zip by its full path (and of the zstd and gzip copies): etcd serves every key")
  func restore() async throws {
    let m = try await make()
    let expected = try m.server.dump()
    for what in ["zip", "zstd", "gzip"] {
      let (r, restored) = try await restoreAndServe(try #require(m.copies[what]), into: m.work.appending("restored-\(what)"))
      #expect(r.stdout.contains("SHA-256 verified"), "\(what): etcd's trailer inside is checked: \(r)")
      #expect(try restored.dump() == expected, "\(what): every key, value, revision and version")
    }
    try expectNoLeftovers(m)
  }

  @Test("a truncated or damaged zip: a clear error, no data dir, nothing left beside it")
  func damaged() async throws {
    let m = try await make()
    let zip = try #require(m.copies["zip"])
    let bytes = try Data(contentsOf: URL(fileURLWithPath: zip))
    let cut = m.dir + "/cut.zip"
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
    var flipped = bytes
    flipped[bytes.count / 3] ^= 0x10
    let bad = m.dir + "/flipped.zip"
    try flipped.write(to: URL(fileURLWithPath: bad))
    for (path, mention) in [(cut, "truncated"), (bad, "damaged")] {
      let dataDir = m.work.appending("never")
      let r = try Tool.run(["restore", path, "--data-dir", dataDir])
      #expect(r.status != 0, "\(r)")
      #expect(r.stderr.contains(path) && r.stderr.contains(mention), "\(r.stderr)")
      #expect(!FileManager.default.fileExists(atPath: dataDir), "no data dir")
      let s = try Tool.run(["status", path])
      #expect(s.status != 0 && s.stderr.contains(mention), "\(s)")
    }
    // Expanded, but not a snapshot: the message names the file given, not the expanded copy.
    let notSnapshot = m.dir + "/not-a-snapshot.zst"
    try TestProcess.check("/bin/sh", ["-c", "head -c 100000 /dev/zero | zstd -q -c > \"$0\"", notSnapshot])
    let s = try Tool.run(["status", notSnapshot])
    #expect(s.status != 0 && s.stderr.contains(notSnapshot + " (expanded)") && !s.stderr.contains(".download-"), "\(s)")
    try FileManager.default.removeItem(atPath: notSnapshot)
    try FileManager.default.removeItem(atPath: cut)
    try FileManager.default.removeItem(atPath: bad)
    try expectNoLeftovers(m)
  }

  @Test("k3s's .zip in a bucket: restore NAME.zip --s3 downloads, expands and restores it")
  func fromBucket() async throws {
    let m = try await make()
    let zip = try #require(m.copies["zip"])
    let s3 = try await S3Fixture(folder: "k3s/")
    let name = SystemFileName.base(zip)
    _ = try s3.moto.oracle(bucket: s3.bucket, ["put", "k3s/" + name, zip])
    let (_, restored) = try await restoreAndServe(
      name, into: m.work.appending("restored-s3"), extra: ["--dir", s3.dir] + s3.arguments(), environment: s3.environment)
    #expect(try restored.dump() == (try m.server.dump()))
    let left = (try? FileManager.default.contentsOfDirectory(atPath: s3.dir)) ?? []
    #expect(!left.contains { $0.hasPrefix(".download-") }, "no download folder left: \(left)")
  }
}

enum SystemFileName {
  static func base(_ path: String) -> String { String(path.split(separator: "/").last ?? "") }
  static func parent(_ path: String) -> String { String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) }
}
