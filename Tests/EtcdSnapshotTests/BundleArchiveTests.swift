import EtcdSnapshot
import EtcdTestSupport
import Foundation
import PropertyBased
import SnapshotCore
import SnapshotPipeline
import SnapshotStorage
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The bundle's tar: what we write GNU tar and Python's tarfile read, what they write we read,
/// and archives made to escape the folder are refused before anything is written.
@Suite("restore bundles: the pax tar we write and read, and the unpacking that refuses to leave its folder")
struct BundleArchiveTests {
  /// Writes a bundle of `plan` with no stages into `dir`.
  static func writeBundle(_ plan: BundlePlan, into dir: String, name: String = "b.bundle.tar") throws -> BundleRecord {
    let store = LocalSnapshotStore(directory: dir)
    try store.prepare()
    return try BundleWriter.write(plan, into: store, fileName: name, stages: StageChain([]), isStopped: { false })
  }

  /// Runs a Python snippet with `tarfile` imported and `sys.argv[1]` as the archive path.
  static func python(_ script: String, _ path: String) throws {
    try TestProcess.check("/usr/bin/env", ["python3", "-c", "import sys, tarfile, io\n" + script, path])
  }

  @Test("headers round-trip: any name (long, non-ASCII), mode, size, time and link survive write then parse, with the pax header where needed")
  func headerRoundTrip() async {
    let part = Gen.int(in: 0...4).map { ["kube-apiserver-pod-12", "é→☃", "a", String(repeating: "n", count: 60), "x y"][$0] }
    await propertyCheck(
      count: 300, input: part.array(of: 1...6), Gen.int(in: 0...0o7777), Gen.int(in: 0...(1 << 40)), Gen.int(in: 0...4_000_000_000),
      Gen.int(in: 0...2)
    ) { parts, modeValue, sizeValue, mtimeValue, kindIndex in
      let mode = UInt32(modeValue)
      let size = Int64(sizeValue)
      let mtime = Int64(mtimeValue)
      let path = parts.joined(separator: "/")
      let kind: TarEntry.Kind = [.file, .directory, .symlink][kindIndex]
      let entry = TarEntry(
        path: path, kind: kind, mode: mode, size: kind == .file ? size : 0, mtime: mtime, linkTarget: kind == .symlink ? path + "-t" : "")
      let bytes = TarFormat.headers(entry)
      #expect(bytes.count % 512 == 0)
      var values: [String: String] = [:]
      var offset = 0
      var last: TarFormat.RawHeader?
      while offset < bytes.count {
        let header = try #require(try TarFormat.parse(Array(bytes[offset..<offset + 512])))
        offset += 512
        if header.typeFlag == UInt8(ascii: "x") {
          let end = offset + Int(header.size)
          values = try TarFormat.paxRecords(Array(bytes[offset..<end]))
          offset = end + TarEntry.padding(after: header.size)
        } else {
          last = header
        }
      }
      let header = try #require(last)
      let name = values["path"] ?? header.name
      #expect(name == (kind == .directory ? path + "/" : path))
      #expect(header.mode == mode)
      #expect(header.mtime == mtime)
      #expect((Int64(values["size"] ?? "") ?? header.size) == entry.size)
      #expect((values["linkpath"] ?? header.linkName) == entry.linkTarget)
    }
  }

  @Test("a bundle we write: GNU tar and Python's tarfile list the same members, contents and modes; we unpack it the same")
  func readByTheTools() throws {
    let work = try TemporaryDirectory(prefix: "bundle")
    let src = work.appending("src")
    let deep = src + "/" + String(repeating: "d", count: 90) + "/" + String(repeating: "e", count: 90)
    try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
    try writeFile(src + "/token", Array("K10abc::server:secret\n".utf8))
    _ = chmod(src + "/token", 0o600)
    try writeFile(deep + "/nested.yaml", Array(repeating: UInt8(ascii: "y"), count: 3000))
    _ = chmod(deep + "/nested.yaml", 0o640)
    _ = symlink("token", src + "/token-link")
    let plan = try BundlePlan.make(
      {
        var c = BundleConfiguration()
        c.paths = [src]
        return c
      }())
    let record = try Self.writeBundle(plan, into: work.appending("out"))
    #expect(record.entries == 6)
    let sum = try TestProcess.check("/usr/bin/env", ["sha256sum", record.path])
    #expect(sum.hasPrefix(record.sha256 + " "), "\(sum)")
    let prefix = String(src.dropFirst())
    let listed = try TestProcess.check("/usr/bin/env", ["tar", "-tvf", record.path])
    #expect(listed.contains("\(prefix)/token-link -> token"), "\(listed)")
    #expect(listed.contains("-rw-r-----"), "\(listed)")
    let gnu = work.appending("gnu")
    try FileManager.default.createDirectory(atPath: gnu, withIntermediateDirectories: true)
    try TestProcess.check("/usr/bin/env", ["tar", "-xpf", record.path, "-C", gnu])
    #expect(contents(gnu + "/" + prefix + "/token") == Array("K10abc::server:secret\n".utf8))
    #expect(permissions(gnu + "/" + prefix + "/token") == 0o600)
    try Self.python(
      """
      t = tarfile.open(sys.argv[1])
      names = sorted(m.name for m in t.getmembers())
      assert len(names) == 6, names
      m = [m for m in t.getmembers() if m.name.endswith('nested.yaml')][0]
      assert m.size == 3000 and m.mode == 0o640, (m.size, oct(m.mode))
      assert t.extractfile(m).read() == b'y' * 3000
      """, record.path)
    let ours = work.appending("ours")
    let entries = try BundleExtractor.extract(record.path, address: record.path, to: ours)
    #expect(entries.count == 6)
    let relative = String(deep.dropFirst())
    #expect(contents(ours + "/" + relative + "/nested.yaml") == Array(repeating: UInt8(ascii: "y"), count: 3000))
    #expect(permissions(ours + "/" + relative + "/nested.yaml") == 0o640)
    #expect(permissions(ours + "/" + prefix + "/token") == 0o600)
    let link = try FileManager.default.destinationOfSymbolicLink(atPath: ours + "/" + prefix + "/token-link")
    #expect(link == "token")
  }

  @Test("a path given that is a link (k3s's node-token) is archived as the file it points to; links inside folders stay links")
  func givenLink() throws {
    let work = try TemporaryDirectory(prefix: "bundle")
    try writeFile(work.appending("token"), Array("K10x\n".utf8))
    _ = symlink(work.appending("token"), work.appending("node-token"))
    var c = BundleConfiguration()
    c.paths = [work.appending("node-token")]
    let record = try Self.writeBundle(try BundlePlan.make(c), into: work.appending("out"))
    let entries = try BundleExtractor.check(record.path, address: record.path)
    #expect(entries.map(\.kind) == [.file] && entries.first?.size == 5, "\(entries)")
    #expect(entries.first?.path == String(work.appending("node-token").dropFirst()))
  }

  @Test("what GNU tar writes (pax and gnu long names) and Python's tarfile writes, we unpack")
  func readTheTools() throws {
    let work = try TemporaryDirectory(prefix: "bundle")
    let long = String(repeating: "l", count: 150)
    try FileManager.default.createDirectory(atPath: work.appending("tree/etc/\(long)"), withIntermediateDirectories: true)
    try writeFile(work.appending("tree/etc/\(long)/config.yaml"), Array("token: x\n".utf8))
    for format in ["pax", "gnu", "ustar"] {
      let archive = work.appending("\(format).tar")
      let r = try TestProcess.run("/usr/bin/env", ["tar", "--format=\(format)", "-cf", archive, "-C", work.appending("tree"), "etc"])
      if format == "ustar" {
        // ustar cannot hold a 150-byte file name: tar says so; the archive has the rest.
        #expect(r.status != 0)
        continue
      }
      try #require(r.status == 0, "\(r)")
      let out = work.appending("out-\(format)")
      try BundleExtractor.extract(archive, address: archive, to: out)
      #expect(contents(out + "/etc/\(long)/config.yaml") == Array("token: x\n".utf8), "tar --format=\(format)")
    }
    let py = work.appending("py.tar")
    try Self.python(
      """
      with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
          data = 'é'.encode() * 100
          info = tarfile.TarInfo('srv/naïve/' + 'x' * 120)
          info.size = len(data)
          info.mode = 0o600
          t.addfile(info, io.BytesIO(data))
      """, py)
    let out = work.appending("out-py")
    try BundleExtractor.extract(py, address: py, to: out)
    #expect(
      contents(out + "/srv/naïve/" + String(repeating: "x", count: 120)) == Array("é".utf8)
        + Array(repeating: Array("é".utf8), count: 99).flatMap { $0 })
  }

  /// Archives made to escape, each written by Python's tarfile.
  static let hostile: [(String, String)] = [
    ("an absolute path", "t.addfile(file('/tmp/escaped-abs'), io.BytesIO(b'x'))"),
    ("a .. path", "t.addfile(file('a/../../escaped-dotdot'), io.BytesIO(b'x'))"),
    ("a link to an absolute path", "t.addfile(link('etc', '/etc'))"),
    ("a link that climbs out", "t.addfile(link('up', '../..'))"),
    ("a file through its own link", "t.addfile(link('d', 'inside')); t.addfile(file('d/x'), io.BytesIO(b'x'))"),
    ("links that leave together", "t.addfile(link('a', 'r/..')); t.addfile(link('r', '.'))"),
    ("a device file", "i = tarfile.TarInfo('null'); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; t.addfile(i)"),
    ("a FIFO", "i = tarfile.TarInfo('pipe'); i.type = tarfile.FIFOTYPE; t.addfile(i)"),
    ("a hard link to outside", "i = tarfile.TarInfo('h'); i.type = tarfile.LNKTYPE; i.linkname = '/etc/shadow'; t.addfile(i)"),
  ]

  @Test(
    "hostile archives are refused before anything is written: absolute and .. paths, escaping links, devices, FIFOs, hard links out",
    arguments: hostile.indices)
  func refusesEscapes(index: Int) throws {
    let (what, line) = Self.hostile[index]
    let work = try TemporaryDirectory(prefix: "bundle")
    let archive = work.appending("evil.tar")
    try Self.python(
      """
      def file(name):
          i = tarfile.TarInfo(name); i.size = 1; return i
      def link(name, target):
          i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; return i
      with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
          t.addfile(file('first'), io.BytesIO(b'1'))
          \(line)
      """, archive)
    let out = work.appending("out")
    #expect(throws: SnapshotError.self, "\(what)") { try BundleExtractor.extract(archive, address: archive, to: out) }
    #expect(!exists(out + "/first"), "\(what): nothing was written")
    #expect(!exists("/tmp/escaped-abs") && !exists(work.path + "/escaped-dotdot"))
  }

  @Test("a link planted in the target folder is not followed out of it")
  func plantedLink() throws {
    let work = try TemporaryDirectory(prefix: "bundle")
    let archive = work.appending("ok.tar")
    try Self.python(
      """
      with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
          i = tarfile.TarInfo('etc/passwd'); i.size = 1
          t.addfile(i, io.BytesIO(b'x'))
      """, archive)
    let out = work.appending("out")
    let outside = work.appending("outside")
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
    _ = symlink(outside, out + "/etc")
    #expect(throws: SnapshotError.self) { try BundleExtractor.extract(archive, address: archive, to: out) }
    #expect(!exists(outside + "/passwd"))
  }

  @Test("every truncation of a bundle is refused", arguments: [0, 1, 511, 512, 700, 1024, 1536, 2000])
  func truncated(cut: Int) throws {
    let work = try TemporaryDirectory(prefix: "bundle")
    try writeFile(work.appending("f"), Array(repeating: 7, count: 900))
    let plan = try BundlePlan.make(
      {
        var c = BundleConfiguration()
        c.paths = [work.appending("f")]
        return c
      }())
    let record = try Self.writeBundle(plan, into: work.appending("out"))
    let whole = try #require(contents(record.path))
    let cutPath = work.appending("cut.tar")
    try writeFile(cutPath, Array(whole.prefix(cut)))
    #expect(throws: SnapshotError.self) { try BundleExtractor.check(cutPath, address: cutPath) }
  }

  @Test("the presets: k3s needs the token and leaves out what is missing; openshift picks the newest revision of each static pod")
  func presets() throws {
    let work = try TemporaryDirectory(prefix: "bundle")
    var k3s = BundleConfiguration()
    k3s.preset = .k3s
    k3s.root = work.path
    #expect(throws: SnapshotError.self) { try BundlePlan.make(k3s) }
    try FileManager.default.createDirectory(atPath: work.appending("var/lib/rancher/k3s/server"), withIntermediateDirectories: true)
    try writeFile(work.appending("var/lib/rancher/k3s/server/token"), Array("t".utf8))
    let plan = try BundlePlan.make(k3s)
    #expect(plan.items.map(\.archivePath) == ["var/lib/rancher/k3s/server/token"])
    #expect(plan.missing.count == 3)
    var openshift = BundleConfiguration()
    openshift.preset = .openshift
    openshift.root = work.path
    let resources = work.appending("etc/kubernetes/static-pod-resources")
    for name in ["kube-apiserver-pod-2", "kube-apiserver-pod-10", "kube-apiserver-certs", "kube-controller-manager-pod-3", "kube-scheduler-pod-7"] {
      try FileManager.default.createDirectory(atPath: resources + "/" + name, withIntermediateDirectories: true)
    }
    #expect(throws: SnapshotError.self, "etcd-pod-N is missing") { try BundlePlan.make(openshift) }
    try FileManager.default.createDirectory(atPath: resources + "/etcd-pod-4", withIntermediateDirectories: true)
    #expect(
      try BundlePlan.make(openshift).items.map(\.archivePath)
        == [
          "kube-apiserver-pod-10", "kube-controller-manager-pod-3", "kube-scheduler-pod-7", "etcd-pod-4",
        ].map { "etc/kubernetes/static-pod-resources/" + $0 })
  }
}
