import ArgumentParser
import EtcdSnapshot
import EtcdSnapshotAgent
import Foundation
import SnapshotCore
import SnapshotSettings

struct AgentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "agent",
    abstract: "Take snapshots on a schedule, as a k3s server does, and serve metrics, health and an API.",
    discussion: """
      Runs until SIGTERM or SIGINT. At each tick of --etcd-snapshot-schedule-cron (default \
      "0 */12 * * *": 00:00 and 12:00 local time, as k3s) it takes a snapshot exactly as \
      `save` does (local, and S3 with --etcd-s3), then, only if it succeeded, prunes this \
      node's snapshots locally to --etcd-snapshot-retention and in S3 to --etcd-s3-retention. \
      The flags and config.yaml keys are k3s server's; a k3s config.yaml gives the same \
      schedule, retention and bucket.

      The HTTP server (--http-listen, default 127.0.0.1:9180) serves GET /metrics \
      (Prometheus), /healthz, /readyz, GET /v1/snapshots, POST /v1/snapshots (snapshot now) \
      and DELETE /v1/snapshots/NAME (both need the bearer token of --api-token-file), and a \
      status page at /. SIGHUP reloads the configuration; a bad one is reported and the old \
      one keeps running. --check-config validates everything and prints the next five runs.

      Example:
        etcd-snapshot agent --config /etc/rancher/k3s/config.yaml \\
          --api-token-file /etc/etcd-snapshot/api-token --on-failure-webhook https://hooks.example/etcd
      """
  )

  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var directory: DirectoryOptions

  @Option(
    name: .customLong("etcd-snapshot-schedule-cron"),
    help: help(
      "When to snapshot, as k3s: cron (5 fields, @daily, @every 6h, CRON_TZ=…) (default \"0 */12 * * *\").", .scheduleCron, valueName: "spec"))
  var schedule: String?

  @Option(
    name: [.customLong("etcd-snapshot-retention"), .customLong("snapshot-retention")],
    help: help("Snapshots of this node kept locally (default 5; 0 keeps all, as k3s).", .snapshotRetention, valueName: "n"))
  var retention: Int?

  @Flag(
    name: .customLong("etcd-disable-snapshots"), inversion: .prefixedNo,
    help: help(
      "Take no scheduled snapshots; the HTTP server still runs. --no-etcd-disable-snapshots keeps them on when k3s's config.yaml turns k3s's own off.",
      .disableSnapshots))
  var disableSnapshots: Bool?

  @Option(
    name: .customLong("etcd-snapshot-name"), help: help("Snapshot name prefix (default etcd-snapshot, as k3s).", .snapshotName, valueName: "prefix"))
  var name: String?

  @OptionGroup var nodeName: NodeNameOption

  @OptionGroup var compression: CompressionOptions

  @OptionGroup var encryption: EncryptionOptions
  @OptionGroup var bundle: BundleOptions

  @OptionGroup var s3: S3Options

  @Option(
    name: .customLong("http-listen"),
    help: help("Address of the HTTP server (default 127.0.0.1:9180; :9180 for every address).", .httpListen, valueName: "host:port"))
  var listen: String?

  @Option(
    name: .customLong("http-tls-cert"),
    help: help("Serve HTTPS with this PEM certificate chain (with --http-tls-key).", .httpTLSCert, valueName: "file"))
  var tlsCert: String?

  @Option(name: .customLong("http-tls-key"), help: help("The PEM private key of --http-tls-cert.", .httpTLSKey, valueName: "file"))
  var tlsKey: String?

  @Option(
    name: .customLong("api-token-file"),
    help: help("File holding the bearer token that POST and DELETE need (without it the API is read-only).", .apiTokenFile, valueName: "file"))
  var apiTokenFile: String?

  @Option(
    name: .customLong("on-failure-exec"),
    help: help(
      "Run this shell command when a snapshot fails; the failure is JSON on its stdin and in $ETCD_SNAPSHOT_FAILURE.", .onFailureExec,
      valueName: "cmd"))
  var onFailureExec: String?

  @Option(
    name: .customLong("on-failure-webhook"), help: help("POST the failure as JSON to this URL (3 attempts).", .onFailureWebhook, valueName: "url"))
  var onFailureWebhook: String?

  @Option(
    name: .customLong("on-failure-webhook-token-file"),
    help: help("File holding a bearer token for --on-failure-webhook.", .onFailureWebhookTokenFile, valueName: "file"))
  var onFailureWebhookTokenFile: String?

  @Flag(
    name: .customLong("coordinate"), inversion: .prefixedNo,
    help: help("With an agent on every member: one snapshot per tick cluster-wide, claimed in etcd (default off).", .coordinate))
  var coordinate: Bool?

  @Option(
    name: .customLong("coordinate-prefix"),
    help: help("etcd key prefix of the tick claims (default /etcd-snapshot/coordination/).", .coordinatePrefix, valueName: "prefix"))
  var coordinatePrefix: String?

  @Option(
    name: .customLong("coordinate-lease-ttl"),
    help: help("Lease of a tick's claim: how soon a tick whose agent died is taken over (default 10s).", .coordinateLeaseTTL, valueName: "duration"))
  var coordinateLeaseTTL: String?

  @Flag(name: .customLong("check-config"), help: "Validate the configuration, print the next five run times, and exit.")
  var checkConfig = false

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    let invocation = Invocation.start(global, environment: ProcessInfo.processInfo.environment)
    do throws(SnapshotError) {
      let configuration = try agentConfiguration(invocation)
      if checkConfig {
        report(configuration)
        return
      }
      let command = self
      var agent = Agent(configuration: configuration, version: toolVersion, logger: makeServiceLogger(debug: invocation.debug))
      agent.reload = { () throws(SnapshotError) in
        try command.agentConfiguration(Invocation.start(command.global, environment: ProcessInfo.processInfo.environment, reopeningLog: false))
      }
      agent.onListening = { url in note("etcd-snapshot agent: listening on \(url)") }
      try await agent.run()
    } catch {
      note("etcd-snapshot: error: \(error.message)")
      if invocation.debug, let cause = error.cause { note("  cause: \(cause)") }
      throw ExitCode(error.code.exitStatus)
    }
  }

  /// Flags over `ETCD_SNAPSHOT_*` over the config files, into one configuration; every problem at once.
  func agentConfiguration(_ invocation: Invocation) throws(SnapshotError) -> AgentConfiguration {
    var settings = invocation.settings()
    var save = SaveConfiguration(
      connection: connection.configuration(&settings), storage: directory.configuration(&settings),
      nodeName: nodeName.value(settings) ?? hostName())
    save.namePrefix = settings.sourced(.snapshotName, flag: name)?.value ?? "etcd-snapshot"
    save.s3 = s3.configuration(&settings)
    var schedule: CronSchedule?
    let spec = settings.sourced(.scheduleCron, flag: self.schedule)
    do {
      schedule = try CronSchedule(parsing: spec?.value ?? CronSchedule.k3sDefault)
    } catch {
      if let spec { settings.report(spec, "is not a schedule: \(error.description)") }
    }
    // A schedule that did not parse is reported with the other problems below; k3s's default
    // stands in meanwhile, so that the rest is still checked.
    guard let schedule = schedule ?? (try? CronSchedule(parsing: CronSchedule.k3sDefault)) else {
      throw SnapshotError(.internal, "k3s's default schedule \(quoted(CronSchedule.k3sDefault)) does not parse")
    }
    var configuration = AgentConfiguration(save: save, schedule: schedule)
    if let n = settings.int(.snapshotRetention, flag: retention, minimum: 0) { configuration.retention = n }
    configuration.snapshotsEnabled = !settings.bool(.disableSnapshots, flag: disableSnapshots)
    if let listen = settings.sourced(.httpListen, flag: listen) {
      if let address = ListenAddress(parsing: listen.value) {
        configuration.listen = address
      } else {
        settings.report(listen, "is not an address to listen on: write it like 127.0.0.1:9180, [::1]:9180 or :9180")
      }
    }
    configuration.tlsCertificate = settings.string(.httpTLSCert, flag: tlsCert)
    configuration.tlsKey = settings.string(.httpTLSKey, flag: tlsKey)
    configuration.apiTokenFile = settings.string(.apiTokenFile, flag: apiTokenFile)
    configuration.hooks.exec = settings.string(.onFailureExec, flag: onFailureExec)
    if let hook = settings.sourced(.onFailureWebhook, flag: onFailureWebhook) {
      if let url = URL(string: hook.value) { configuration.hooks.webhook = url } else { settings.report(hook, "is not a URL") }
    }
    configuration.hooks.webhookTokenFile = settings.string(.onFailureWebhookTokenFile, flag: onFailureWebhookTokenFile)
    if settings.bool(.coordinate, flag: coordinate) {
      var coordination = Coordination()
      if let prefix = settings.string(.coordinatePrefix, flag: coordinatePrefix) { coordination.prefix = prefix }
      if let ttl = settings.duration(.coordinateLeaseTTL, flag: coordinateLeaseTTL, positive: true, example: "10s") { coordination.leaseTTL = ttl }
      configuration.coordination = coordination
    }
    compression.apply(to: &configuration.save, &settings)
    encryption.apply(to: &configuration.save, &settings)
    bundle.apply(to: &configuration.save, &settings)
    var problems = configuration.problems()
    let connection = configuration.save.connection
    problems += Self.unreadable([
      ("--cacert", connection.caCertPath), ("--cert", connection.certPath), ("--key", connection.keyPath),
      ("--s3-endpoint-ca", configuration.save.s3?.endpointCA), ("--s3-credentials-file", configuration.save.s3?.credentialsFile),
      ("--api-token-file", configuration.apiTokenFile), ("--on-failure-webhook-token-file", configuration.hooks.webhookTokenFile),
      ("--http-tls-cert", configuration.tlsCertificate), ("--http-tls-key", configuration.tlsKey),
    ])
    try invocation.check(settings, problems)
    for warning in configuration.schedule.warnings { note("etcd-snapshot: warning: \(warning)") }
    return configuration
  }

  /// Files the agent reads later that cannot be read now.
  private static func unreadable(_ files: [(flag: String, path: String?)]) -> [String] {
    files.compactMap { file in
      guard let path = file.path, !FileManager.default.isReadableFile(atPath: path) else { return nil }
      return "\(file.flag) \(quoted(path)) cannot be read: check the path and its permissions"
    }
  }

  /// What `--check-config` prints.
  private func report(_ c: AgentConfiguration) {
    print("configuration is valid")
    print("schedule: \(c.snapshotsEnabled ? "\(c.schedule.spec) (\(c.schedule.timeZone.identifier))" : "disabled")")
    print("snapshots: \(c.save.storage.snapshotDirectory)/\(c.save.namePrefix)-\(c.save.nodeName)-<unix time>, retention \(c.retention)")
    if let s3 = c.save.s3 { print("s3: \(s3.folderAddress), retention \(s3.retention)") }
    print("http: \(c.tlsCertificate == nil ? "http" : "https")://\(c.listen)")
    if let k = c.coordination { print("coordination: on, keys under \(k.prefix)\(c.save.namePrefix)/, lease \(GoDuration.format(k.leaseTTL))") }
    if c.snapshotsEnabled {
      var next: [Date] = []
      var after = Date()
      while next.count < 5, let n = c.nextTick(after: after) {
        next.append(n)
        after = n
      }
      print(next.isEmpty ? "next runs: none in the next five years" : "next runs:")
      let formatter = ISO8601DateFormatter()
      formatter.timeZone = c.schedule.timeZone
      for date in next { print("  \(formatter.string(from: date))") }
    }
  }
}
