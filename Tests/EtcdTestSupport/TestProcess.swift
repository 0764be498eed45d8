import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// What a finished child process left behind.
package struct ProcessResult: Sendable, CustomStringConvertible {
  /// Exit status (128 + signal when killed by one).
  package var status: Int32
  /// Standard output.
  package var stdout: String
  /// Standard error.
  package var stderr: String

  /// Status and both streams, for failure messages.
  package var description: String {
    "exit \(status)\n--- stdout ---\n\(stdout.suffix(3000))\n--- stderr ---\n\(stderr.suffix(3000))"
  }
}

/// A failure of the test harness itself (not of the code under test).
package struct HarnessError: Error, CustomStringConvertible {
  /// What went wrong.
  package var description: String
  /// Makes an error.
  package init(_ description: String) { self.description = description }
}

/// A child process started in the background, its output going to files.
package final class RunningProcess: @unchecked Sendable {
  private let process: Process
  private let directory: TemporaryDirectory
  private let description: String

  fileprivate init(process: Process, directory: TemporaryDirectory, description: String) {
    self.process = process
    self.directory = directory
    self.description = description
  }

  /// Process id.
  package var pid: Int32 { process.processIdentifier }

  /// Whether it is still running.
  package var isRunning: Bool { process.isRunning }

  /// What it has written to standard output so far.
  package var stdoutSoFar: String { (try? String(contentsOfFile: directory.path + "/stdout", encoding: .utf8)) ?? "" }

  /// What it has written to standard error so far.
  package var stderrSoFar: String { (try? String(contentsOfFile: directory.path + "/stderr", encoding: .utf8)) ?? "" }

  /// Waits for the exit (killing it after `timeout`) and returns what it printed.
  package func wait(timeout: Duration = .seconds(120)) throws -> ProcessResult {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
      if ContinuousClock.now > deadline {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw HarnessError("\(description) did not finish within \(timeout); killed")
      }
      usleep(5_000)
    }
    process.waitUntilExit()
    let status =
      process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return ProcessResult(
      status: status,
      stdout: stdoutSoFar,
      stderr: (try? String(contentsOfFile: directory.path + "/stderr", encoding: .utf8)) ?? "")
  }

  /// Sends a signal.
  package func signal(_ sig: Int32) {
    if process.isRunning { kill(process.processIdentifier, sig) }
  }

  deinit {
    if process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
  }
}

/// Serializes `Process.run()` across this test process.
///
/// Foundation's `Process` on Linux learns that a child ended when the child's end of a
/// socket pair closes. `run()` lists the descriptors open at that moment and closes them in
/// the child, then spawns; a socket pair that another thread's `run()` creates in between is
/// inherited by this child. When this child is a long-lived etcd or agent, the other child's
/// exit then goes unnoticed until this one ends (a CI run saw `ls` "not finish within 120 s"
/// though it had exited). With every spawn of the test process under one lock, no `run()`
/// can create its socket pair while another is between its listing and its spawn.
private let spawnLock = Mutex<Void>(())

/// Runs `body` (a `Process.run()`) under the test process's one spawn lock.
package func spawning(_ body: () throws -> Void) throws {
  try spawnLock.withLock { _ throws in try body() }
}

/// Runs child processes with their output in files (no pipe can fill up) and a time limit.
package enum TestProcess {
  /// Starts `program` in the background.
  package static func start(
    _ program: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil
  ) throws -> RunningProcess {
    let dir = try TemporaryDirectory(prefix: "proc")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let outPath = dir.path + "/stdout"
    let errPath = dir.path + "/stderr"
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
      try? out.close()
      try? err.close()
    }
    process.standardOutput = out
    process.standardError = err
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    try spawning { try process.run() }
    if let stdin {
      input.fileHandleForWriting.write(Data(stdin.utf8))
      try? input.fileHandleForWriting.close()
    }
    return RunningProcess(process: process, directory: dir, description: "\(program) \(arguments.joined(separator: " "))")
  }

  /// Runs `program` to completion (killing it after `timeout`) and returns what it printed.
  package static func run(
    _ program: String, _ arguments: [String], environment: [String: String]? = nil, stdin: String? = nil,
    timeout: Duration = .seconds(120)
  ) throws -> ProcessResult {
    try start(program, arguments, environment: environment, stdin: stdin).wait(timeout: timeout)
  }

  /// Runs and requires exit 0; returns standard output.
  @discardableResult
  package static func check(
    _ program: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(120)
  ) throws -> String {
    let r = try run(program, arguments, environment: environment, timeout: timeout)
    guard r.status == 0 else {
      throw HarnessError("\(program) \(arguments.joined(separator: " ")) failed: \(r)")
    }
    return r.stdout
  }
}

/// A temporary directory removed when the value is released.
package final class TemporaryDirectory: Sendable {
  /// Its path.
  package let path: String

  /// Creates a new, empty directory under the system's temporary directory.
  package init(prefix: String) throws {
    let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    path = base + "/etcd-snapshot-test-\(prefix)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  /// A path inside the directory.
  package func appending(_ name: String) -> String { path + "/" + name }

  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Ports this test process has handed out: never handed out twice, so that servers started at
/// the same moment (a 3-member cluster, suites running in parallel) cannot be given one port
/// that one of them has not bound yet.
private let portsHandedOut = Mutex<Set<Int>>([])

/// A port that is free on 127.0.0.1 now and that no earlier call in this process returned.
///
/// It lies below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`), the range
/// from which the kernel picks a port for a server that binds port 0 (moto, the S3 test
/// proxy) and for the source of every outgoing connection. A port from that range, free when
/// probed, could be taken by one of those before the etcd it was meant for binds it; an etcd
/// peer URL that reached moto was answered 403, which etcd reads as "this member was removed"
/// and exits (a CI failure). The search starts at an offset from the process id, so that two
/// test runs at once are unlikely to probe the same ports.
package func freeLoopbackPort() throws -> Int {
  let (low, high) = portSearchRange()
  let count = high - low
  let offset = Int(getpid()) &* 7919 % count
  for step in 0..<count {
    let port = low + (offset + step) % count
    if portsHandedOut.withLock({ $0.contains(port) }) { continue }
    guard canBindLoopback(port: port) else { continue }
    if portsHandedOut.withLock({ $0.insert(port).inserted }) { return port }
  }
  throw HarnessError("no free loopback port in \(low)..<\(high) that was not handed out already")
}

/// Ports below the ephemeral range: [ephemeral low − 12,000, ephemeral low), at least 1024.
private func portSearchRange() -> (Int, Int) {
  let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
  let ephemeralLow = text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
  let high = max(ephemeralLow, 2048)
  return (max(1024, high - 12_000), high)
}

private func canBindLoopback(port: Int) -> Bool {
  let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return false }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = UInt16(port).bigEndian
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let length = socklen_t(MemoryLayout<sockaddr_in>.size)
  return withUnsafePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 }
  }
}

/// The repository's root folder (found from this source file's location).
package func repositoryRoot(file: String = #filePath) -> String {
  var url = URL(fileURLWithPath: file)
  while url.path != "/" {
    url.deleteLastPathComponent()
    if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
  }
  return FileManager.default.currentDirectoryPath
}
