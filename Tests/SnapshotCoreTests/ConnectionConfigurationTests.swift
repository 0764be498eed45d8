import Foundation
import PropertyBased
import SnapshotCore
import Testing

@Suite("ConnectionConfiguration: validation, TLS rules, safe description")
struct ConnectionConfigurationTests {
  @Test("etcdctl's defaults are valid: one plain-text endpoint on 127.0.0.1:2379")
  func defaults() throws {
    let config = ConnectionConfiguration()
    #expect(config.problems() == [])
    let endpoints = try config.validated()
    #expect(endpoints == [EtcdEndpoint(host: "127.0.0.1", port: 2379, scheme: .http)])
    #expect(config.dialTimeout == .seconds(2))
    #expect(config.commandTimeout == .seconds(5))
  }

  @Test("every problem is reported at once")
  func everyProblemAtOnce() throws {
    var config = ConnectionConfiguration()
    config.certPath = "/etc/etcd/client.crt"
    config.endpoints = ["http://127.0.0.1:2379", "ftp://etcd:2379"]
    config.dialTimeout = .zero
    let problems = config.problems()
    #expect(problems.count == 3, "\(problems)")
    #expect(problems.contains { $0.contains("--cert") && $0.contains("--key") })
    #expect(problems.contains { $0.contains("--endpoints") && $0.contains("ftp://etcd:2379") })
    #expect(problems.contains { $0.contains("--dial-timeout") })

    let error = try #require(throws: SnapshotError.self) { try config.validated() }
    #expect(error.code == .invalidConfiguration)
    #expect(error.message.contains("3 problems"))
    for problem in problems { #expect(error.message.contains(problem)) }
  }

  @Test("one problem is the whole message")
  func oneProblem() throws {
    var config = ConnectionConfiguration()
    config.keyPath = "/k.pem"
    let problems = config.problems()
    #expect(problems.count == 1)
    let error = try #require(throws: SnapshotError.self) { try config.validated() }
    #expect(error.message == problems.first)
  }

  @Test("each bad endpoint is its own problem; good ones are not")
  func eachBadEndpoint() {
    var config = ConnectionConfiguration()
    config.endpoints = ["a:0", "http://ok:2379", "::1", "ok2", "http://x/y"]
    let problems = config.problems()
    #expect(problems.count == 3, "\(problems)")
    #expect(problems.allSatisfy { $0.hasPrefix("--endpoints") })
  }

  @Test(
    "each single mistake is found",
    arguments: [
      "no endpoints", "cert only", "key only", "empty user", "user with colon", "password without user",
      "zero dial timeout", "negative dial timeout", "zero command timeout", "negative command timeout",
    ])
  func singleMistakes(mistake: String) {
    var config = ConnectionConfiguration()
    switch mistake {
    case "no endpoints": config.endpoints = []
    case "cert only": config.certPath = "/c.pem"
    case "key only": config.keyPath = "/k.pem"
    case "empty user": config.user = ""
    case "user with colon": config.user = "root:secret"
    case "password without user": config.password = "pw"
    case "zero dial timeout": config.dialTimeout = .zero
    case "negative dial timeout": config.dialTimeout = .seconds(-1)
    case "zero command timeout": config.commandTimeout = .zero
    case "negative command timeout": config.commandTimeout = .milliseconds(-5)
    default: Issue.record("unknown case \(mistake)")
    }
    #expect(config.problems().count == 1, "\(config.problems())")
  }

  @Test("a complete TLS and auth configuration is valid")
  func fullValid() throws {
    var config = ConnectionConfiguration()
    config.endpoints = ["https://[::1]:2379", "10.0.0.2:2379"]
    config.caCertPath = "/ca.pem"
    config.certPath = "/c.pem"
    config.keyPath = "/k.pem"
    config.user = "root"
    config.password = "pw"
    config.dialTimeout = .milliseconds(1)
    #expect(config.problems() == [])
    #expect(try config.validated().count == 2)
  }

  @Test(
    "usesTLS: https always, http never, bare host:port when certificates or insecure-skip-tls-verify are given",
    arguments: [
      ("https://e:1", "none", true),
      ("https://e:1", "cacert", true),
      ("http://e:1", "none", false),
      ("http://e:1", "cacert", false),
      ("http://e:1", "cert+key", false),
      ("http://e:1", "insecure", false),
      ("e:1", "none", false),
      ("e:1", "cacert", true),
      ("e:1", "cert+key", true),
      ("e:1", "insecure", true),
      ("[::1]:1", "cacert", true),
    ])
  func usesTLS(endpoint: String, given: String, expected: Bool) throws {
    var config = ConnectionConfiguration()
    switch given {
    case "cacert": config.caCertPath = "/ca.pem"
    case "cert+key":
      config.certPath = "/c.pem"
      config.keyPath = "/k.pem"
    case "insecure": config.insecureSkipTLSVerify = true
    default: break
    }
    let parsed = try EtcdEndpoint.parse(endpoint).get()
    #expect(config.usesTLS(parsed) == expected)
  }

  @Test("a password in an endpoint URL is refused without being quoted, and a password is never encoded")
  func credentialsInEndpoints() throws {
    var c = ConnectionConfiguration()
    c.endpoints = ["http://root:hunter2@127.0.0.1:2379", "admin:hunter3@10.0.0.1:2379"]
    let problems = c.problems()
    #expect(problems.count == 2, "\(problems)")
    let text = problems.joined(separator: "\n") + c.description
    #expect(!text.contains("hunter2") && !text.contains("hunter3") && !text.contains("root:") && !text.contains("admin"), "\(text)")
    #expect(problems.allSatisfy { $0.contains("--password-file") })
    c.endpoints = ["http://127.0.0.1:2379"]
    c.user = "root"
    c.password = "hunter4"
    let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
    #expect(!json.contains("hunter4") && json.contains("root"), "\(json)")
  }

  @Test("description shows what was given but never the password")
  func descriptionRedacts() async {
    let passwordGen = Gen<Character?>.element(of: Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%&*+,;=?@^_~:/"))
      .map { $0! }.string(of: 8...40)
    let userGen = Gen.letterOrNumber.string(of: 1...10)
    await propertyCheck(count: 300, input: userGen, passwordGen, Gen.bool) { user, password, withCerts in
      var config = ConnectionConfiguration()
      config.user = user
      config.password = password
      if withCerts {
        config.caCertPath = "/etc/ca.pem"
        config.certPath = "/etc/c.pem"
        config.keyPath = "/etc/k.pem"
      }
      for text in [config.description, "\(config)", String(describing: config), String(reflecting: config)] {
        #expect(!text.contains(password), "\(text)")
        #expect(text.contains("password=<redacted>"))
        #expect(text.contains("user=\(user)"))
      }
    }
  }

  @Test("description lists the settings with Go-style durations")
  func descriptionContents() {
    var config = ConnectionConfiguration()
    config.endpoints = ["https://a:1", "b:2"]
    config.insecureSkipTLSVerify = true
    config.dialTimeout = .milliseconds(1500)
    let text = config.description
    #expect(text.contains("endpoints=https://a:1,b:2"))
    #expect(text.contains("insecure-skip-tls-verify"))
    #expect(text.contains("dial-timeout=1.5s"))
    #expect(text.contains("command-timeout=5s"))
    #expect(!text.contains("password"))
  }
}
