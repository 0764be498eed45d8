// What a killed restore or cluster-reset leaves, and how the next one on the same paths removes it.
//
//   restore of DIR (WAL dir W)   DIR.tmp-PID-HEX            (DIR did not exist)
//                                DIR/member.tmp-PID-HEX     (DIR an empty directory: a mount point)
//                                W.tmp-PID-HEX              (a separate --wal-dir)
//   cluster-reset of DIR         DIR.reset-tmp-PID-HEX[.tmp-PID-HEX]    (DIR/.reset-tmp-… in place)
//
// PID is the process that made it. A temporary whose process is gone is debris: a SIGKILL (or
// a crash, or a power cut) came between its creation and its rename. Only a directory named
// exactly so, with a pid that no longer runs, is removed; a live run's temporaries (its pid
// runs) and anything named otherwise are left alone. A pid reused by an unrelated process keeps
// its debris until that process ends: the safe way to be wrong.
import Foundation
import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Names the temporaries of restores and cluster-resets, and removes those of killed runs.
package enum RestoreLeftovers {
  /// `.tmp-PID-HEX` for this process: the suffix of a restore's temporaries.
  package static func suffix(_ marker: String = ".tmp-") -> String {
    marker + "\(getpid())-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
  }

  /// The pid in `name` when it is `prefix` + `PID-HEX` (+ anything), else nil.
  package static func owner(of name: String, prefix: String) -> Int32? {
    guard name.hasPrefix(prefix) else { return nil }
    let rest = name.utf8.dropFirst(prefix.utf8.count)
    let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    let afterDigits = rest.dropFirst(digits.count)
    guard !digits.isEmpty, digits.count <= 10, afterDigits.first == UInt8(ascii: "-"),
      let firstHex = afterDigits.dropFirst().first, isHexDigit(firstHex),
      let pid = Int32(String(decoding: digits, as: UTF8.self)), pid > 0
    else { return nil }
    return pid
  }

  /// Removes the directories in `directory` named `prefix` + `PID-HEX…` whose process is gone; their paths.
  package static func sweep(in directory: String, prefix: String) -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
    var removed: [String] = []
    for name in names.sorted() {
      guard let pid = owner(of: name, prefix: prefix), !isRunning(pid) else { continue }
      let path = (directory == "/" ? "" : directory) + "/" + name
      var st = stat()
      guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
      if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
    }
    return removed
  }

  /// What killed restores into `dataDir` (and `walDir`, when separate) left; removed, their paths.
  package static func sweepRestore(dataDir: String, walDir: String?) -> [String] {
    var removed = sweep(in: SystemFile.parentDirectory(of: dataDir), prefix: baseName(dataDir) + ".tmp-")
    if RestorePlanner.directoryState(dataDir) == .nonEmptyDirectory {
      removed += sweep(in: dataDir, prefix: "member.tmp-")
    }
    if let walDir { removed += sweep(in: SystemFile.parentDirectory(of: walDir), prefix: baseName(walDir) + ".tmp-") }
    return removed
  }

  /// What killed cluster-resets of `dataDir` left (beside it and inside it); removed, their paths.
  package static func sweepClusterReset(dataDir: String) -> [String] {
    sweep(in: SystemFile.parentDirectory(of: dataDir), prefix: baseName(dataDir) + ".reset-tmp-")
      + sweep(in: dataDir, prefix: ".reset-tmp-")
  }

  /// The last component of `path`, a trailing slash ignored.
  static func baseName(_ path: String) -> String { SystemFile.baseName(path) }

  /// True unless the process is known to be gone (the owner test of every pid-named temporary).
  package static func isRunning(_ pid: Int32) -> Bool {
    guard pid > 0 else { return false }
    return kill(pid, 0) == 0 || errno != ESRCH
  }

  private static func isHexDigit(_ c: UInt8) -> Bool {
    (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f"))
  }
}
