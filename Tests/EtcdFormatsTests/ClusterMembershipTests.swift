import EtcdFormats
import Testing

/// Member and cluster IDs (docs/etcd-data-dir.md §4.2 vectors), `--initial-cluster` parsing and member JSON.
@Suite("ClusterMembership")
struct ClusterMembershipTests {
  @Test("default flags: member 8e9e05c52164694d, cluster cdf818194e3a8c32")
  func defaults() throws {
    let m = try ClusterMembership(initialCluster: "default=http://localhost:2380", token: "etcd-cluster")
    #expect(m.members.map(\.idHex) == ["8e9e05c52164694d"])
    #expect(m.clusterIDHex == "cdf818194e3a8c32")
    #expect(m.members[0].json == #"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default"}"#)
  }

  @Test("three members with token tok1")
  func threeMembers() throws {
    let m = try ClusterMembership(
      initialCluster: "m1=http://127.0.0.1:23801,m2=http://127.0.0.2:23802,m3=http://127.0.0.3:23803", token: "tok1")
    #expect(m.member(named: "m1")?.idHex == "5485ed9a2f08260c")
    #expect(m.member(named: "m2")?.idHex == "1e2c8a6ad71aedb5")
    #expect(m.member(named: "m3")?.idHex == "df571cadfc16199c")
    #expect(m.clusterIDHex == "268014c312f35b6")
    // Sorted by numeric ID, not by name or hex string.
    #expect(m.members.map(\.name) == ["m2", "m1", "m3"])
  }

  @Test("one member, several URLs: sorted, and the ID is over the sorted URLs")
  func severalURLs() throws {
    let m = try ClusterMembership(initialCluster: "a=http://10.0.0.2:2380,,a=HTTP://10.0.0.1:2380", token: "t")
    #expect(m.members.count == 1)
    #expect(m.members[0].peerURLs == ["http://10.0.0.1:2380", "http://10.0.0.2:2380"])
    #expect(m.members[0].id == ClusterMembership.memberID(peerURLs: ["http://10.0.0.2:2380", "http://10.0.0.1:2380"], token: "t"))
  }

  @Test("Go JSON escaping of names")
  func escaping() {
    #expect(GoJSON.string("we<i&rd\"n") == #""we\u003ci\u0026rd\"n""#)
    #expect(GoJSON.string("a\\b\n\u{1}\u{2028}é") == #""a\\b\n\u0001\u2028é""#)
  }

  @Test(
    "URL rules",
    arguments: [
      ("http://10.0.0.1:2380", "http://10.0.0.1:2380"), ("https://[::1]:2390", "https://[::1]:2390"),
      (" HTTPS://host:1 ", "https://host:1"), ("unix://sock:1", "unix://sock:1"),
    ])
  func goodURLs(input: String, expected: String) throws {
    #expect(try ClusterMembership.normalizeURL(input).get() == expected)
  }

  @Test(
    "bad URLs are refused",
    arguments: [
      "10.0.0.1:2380", "ftp://a:1", "http://a", "http://a:1/path", "http://u@a:1", "http://a:1?x", "http://a:x",
    ])
  func badURLs(input: String) {
    #expect((try? ClusterMembership.normalizeURL(input).get()) == nil)
  }

  @Test("every problem is reported at once")
  func allProblems() {
    do {
      _ = try ClusterMembership(initialCluster: "a=http://x:1,b=http://x:1,c=nourl,d", token: "t")
      Issue.record("expected an error")
    } catch {
      #expect(error.problems.count == 4, "\(error.problems)")
    }
  }
}
