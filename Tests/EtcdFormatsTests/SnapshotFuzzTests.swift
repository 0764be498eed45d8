import EtcdFormats
import EtcdTestSupport
import Foundation
import SnapshotCore
import Testing

/// Crafted and damaged snapshots: what `status`, `verify` and `restore` run gives a result or a
/// clear error (never a trap), and a failed restore leaves nothing behind.
///
/// The mutations are seeded (SplitMix64), so a failure names the iteration that replays it.
/// Any input that ever trapped is kept under `Fixtures/fuzz/` and replayed on every run.
@Suite("Crafted snapshots: an error, never a trap", .serialized)
struct SnapshotFuzzTests {
  /// Where the inputs that once trapped are kept (read through #filePath, not as resources).
  static let regressionDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Fixtures/fuzz").path

  /// Most mutants tried per run; fewer when `timeBudget` runs out first (on a slow machine).
  static let iterations = 3000
  /// Wall time after which the mutation loop stops early; nothing is asserted about time.
  static let timeBudget = Duration.seconds(20)

  static func write(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  /// The error of `body`, expected to be a `FormatError`.
  static func formatError(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> FormatError? {
    do {
      try body()
      Issue.record("expected a FormatError, got a result", sourceLocation: sourceLocation)
    } catch let error as FormatError {
      return error
    } catch {
      Issue.record("expected a FormatError, got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
    return nil
  }

  @Test("the seed is a sound etcd-like snapshot with a valid trailer that restores, with and without a bump")
  func seedIsSound() throws {
    let dir = try TemporaryDirectory(prefix: "fuzz-seed")
    let path = dir.appending("seed.db")
    try Self.write(try SnapshotSeed.snapshot(), to: path)
    let report = try BoltChecker.check(path: path)
    #expect(report.branchPages > 0 && report.overflowPages > 0 && report.inlineBuckets > 0)
    #expect(try SnapshotFigures.compute(path: path).revision == 122)
    #expect(try RestoreEngine.checkHash(path: path, skip: false))
    #expect(SnapshotFuzzHarness.exercise(path: path, workDir: dir.path).isEmpty)
    #expect(SnapshotFuzzHarness.exercise(path: path, workDir: dir.path, bump: 1_000_000_000).isEmpty)
    let mutator = SnapshotMutator(seed: try SnapshotSeed.snapshot())
    #expect(mutator.fieldOffsets.count > 100)
    #expect(mutator.revisionKeyOffsets.count == 121)
  }

  @Test(
    "seeded mutations (bit flips, extreme fields, meta fields behind a valid checksum, truncation, copied pages): status, verify and restore give a result or an error; a failed restore leaves nothing"
  )
  func mutations() throws {
    let mutator = SnapshotMutator(seed: try SnapshotSeed.snapshot())
    let dir = try TemporaryDirectory(prefix: "fuzz-mutants")
    let path = dir.appending("mutant.db")
    let bumps: [UInt64] = [1, 1_000_000_000, UInt64(Int64.max / 2)]
    let clock = ContinuousClock()
    let deadline = clock.now + Self.timeBudget
    var tried = 0
    for iteration in 0..<Self.iterations where clock.now < deadline {
      // One generator per iteration: iteration N replays alone with the same seed.
      var rng = SplitMix64(state: 0xF0_22ED_5EED &+ UInt64(iteration))
      let (bytes, steps) = mutator.mutant(using: &rng)
      try Self.write(bytes, to: path)
      let bump = iteration % 4 == 0 ? bumps[(iteration / 4) % bumps.count] : 0
      let problems = SnapshotFuzzHarness.exercise(path: path, workDir: dir.path, bump: bump)
      #expect(problems.isEmpty, "iteration \(iteration) (\(steps.joined(separator: "; ")), bump \(bump)): \(problems)")
      tried += 1
    }
    #expect(tried > 0)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["mutant.db"], "nothing but the mutant is left")
  }

  @Test(
    "a last key of revision 2^63 or more: status, verify and restore throw a FormatError naming the file; restore leaves nothing",
    arguments: [UInt64(1) << 63, (UInt64(1) << 63) + 1, UInt64.max])
  func revisionPastInt64(revision: UInt64) throws {
    let dir = try TemporaryDirectory(prefix: "fuzz-revision")
    let path = dir.appending("crafted.db")
    try Self.write(try SnapshotSeed.snapshot(lastRevision: revision), to: path)
    #expect(try RestoreEngine.checkHash(path: path, skip: false), "the trailer is valid: only the revision is wrong")
    _ = try BoltChecker.check(path: path)

    for error in [
      Self.formatError { _ = try SnapshotFigures.compute(path: path) },
      Self.formatError { _ = try BoltSummary.read(path: path) },
    ] {
      let error = try #require(error)
      #expect(error.path == path)
      #expect(error.message.contains("revision \(revision)"), "\(error)")
      #expect(error.message.contains("beyond etcd's largest revision"), "\(error)")
    }

    for bump: UInt64 in [0, 1_000_000_000] {
      var options = RestoreOptions()
      options.dataDir = dir.appending("restored")
      options.skipHashCheck = bump == 0
      options.bumpRevision = bump
      options.markCompacted = bump > 0
      let error = try #require(Self.formatError { _ = try RestoreEngine.restore(snapshot: path, options: options) })
      #expect(error.path == path)
      #expect(error.message.contains("revision \(revision)"), "\(error)")
      #expect(!FileManager.default.fileExists(atPath: dir.appending("restored")))
      #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["crafted.db"])
    }
  }

  @Test(
    "--bump-revision whose sum with the snapshot's revision passes Int64.max: a clear error, nothing left",
    arguments: [(Int64.max - 10, UInt64(1_000_000_000)), (Int64.max / 2 + 2, UInt64(Int64.max / 2)), (Int64.max, UInt64(1))])
  func bumpPastInt64(revision: Int64, bump: UInt64) throws {
    let dir = try TemporaryDirectory(prefix: "fuzz-bump")
    let path = dir.appending("high.db")
    try Self.write(try SnapshotSeed.snapshot(lastRevision: UInt64(revision)), to: path)
    #expect(try SnapshotFigures.compute(path: path).revision == revision)
    var options = RestoreOptions()
    options.dataDir = dir.appending("restored")
    options.bumpRevision = bump
    options.markCompacted = true
    do {
      _ = try RestoreEngine.restore(snapshot: path, options: options)
      Issue.record("a bump past Int64.max was accepted")
    } catch let error as SnapshotError {
      #expect(error.code == .invalidConfiguration)
      #expect(error.message.contains("--bump-revision \(bump)"), "\(error)")
      #expect(error.message.contains("\(revision)"), "\(error)")
      #expect(error.message.contains("exceeds etcd's largest revision"), "\(error)")
    }
    #expect(!FileManager.default.fileExists(atPath: dir.appending("restored")))
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["high.db"])
    // The same revision without a bump restores.
    options.bumpRevision = 0
    options.markCompacted = false
    #expect(try RestoreEngine.restore(snapshot: path, options: options).revision == revision)
  }

  @Test("every input that once trapped (Fixtures/fuzz) gives a result or an error, with and without a bump")
  func regressions() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: Self.regressionDirectory).filter { $0.hasSuffix(".db") }
      .sorted()
    #expect(!names.isEmpty, "no regression inputs in \(Self.regressionDirectory)")
    let dir = try TemporaryDirectory(prefix: "fuzz-regressions")
    for name in names {
      let path = dir.appending(name)
      try FileManager.default.copyItem(atPath: Self.regressionDirectory + "/" + name, toPath: path)
      for bump: UInt64 in [0, 1_000_000_000] {
        let problems = SnapshotFuzzHarness.exercise(path: path, workDir: dir.path, bump: bump)
        #expect(problems.isEmpty, "\(name), bump \(bump): \(problems)")
      }
      try FileManager.default.removeItem(atPath: path)
    }
  }
}
