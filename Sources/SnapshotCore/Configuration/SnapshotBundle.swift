/// The files a restore needs beside etcd (`save --bundle`, `--bundle-preset`), kept in
/// `<snapshot>.bundle.tar` (compressed as the snapshot is, encrypted to the bundle's
/// recipients) in a place of their own.
package struct BundleConfiguration: Sendable, Equatable, Codable {
  /// `--bundle PATH`, repeatable: files and directories (walked; symbolic links kept as
  /// links, never followed).
  package var paths: [String] = []
  /// `--bundle-preset openshift|k3s|rke2|kubeadm`.
  package var preset: BundlePreset?
  /// `--bundle-root DIR`: the preset's paths are looked up under it (a node's disk mounted
  /// elsewhere); default `/`. Archive paths stay relative to it.
  package var root = "/"
  /// `--bundle-recipient`, `--bundle-recipients-file`, `--bundle-passphrase-file`; when none
  /// is given the bundle is encrypted as the snapshot is.
  package var encryption = EncryptionConfiguration()
  /// `--bundle-dir`; default `<snapshot dir>/bundles`.
  package var directory: String?
  /// `--bundle-s3-folder`; default `<s3 folder>/bundles` (with `--s3`).
  package var s3Folder: String?

  package init() {}

  /// Whether a bundle is made.
  package var isEnabled: Bool { !paths.isEmpty || preset != nil }

  /// The suffix of a bundle after the snapshot's plain name.
  package static let suffix = ".bundle.tar"

  /// The folder bundles go to, for the snapshot directory `snapshots`.
  package func directory(besides snapshots: String) -> String {
    directory ?? (snapshots.hasSuffix("/") ? snapshots + "bundles" : snapshots + "/bundles")
  }

  /// The bucket folder bundles go to, for the snapshot folder `folder`.
  package func s3Folder(besides folder: String) -> String {
    if let s3Folder { return s3Folder }
    let trimmed = folder.hasSuffix("/") ? String(folder.dropLast()) : folder
    return trimmed.isEmpty ? "bundles" : trimmed + "/bundles"
  }

  /// Every problem, in words.
  package func problems() -> [String] {
    var problems: [String] = []
    guard isEnabled else {
      for (flag, given) in [
        ("--bundle-dir", directory != nil), ("--bundle-s3-folder", s3Folder != nil), ("--bundle-recipient", encryption.isEnabled),
        ("--bundle-root", root != "/"),
      ] where given {
        problems.append("\(flag) needs --bundle PATH or --bundle-preset: there is no bundle to make")
      }
      return problems
    }
    for path in paths where !path.hasPrefix("/") {
      problems.append("--bundle \(path) is not an absolute path: give it from / (the archive keeps it so that --bundle-to / puts it back)")
    }
    if !root.hasPrefix("/") { problems.append("--bundle-root \(root) is not an absolute path") }
    if let directory, directory.isEmpty { problems.append("--bundle-dir is empty") }
    problems += encryption.problems().map { $0.replacingOccurrences(of: "--encrypt-", with: "--bundle-") }
    return problems
  }
}

/// What a preset collects, as `cluster-backup.sh`, k3s and kubeadm lay a control-plane node out.
package enum BundlePreset: String, Sendable, Codable, CaseIterable {
  case openshift
  case k3s
  case rke2
  case kubeadm

  /// A path of a preset, relative to the root.
  package struct Item: Sendable, Equatable {
    /// The path, without a leading `/`.
    package var path: String
    /// Whether a missing one fails the save (else it is left out with a note).
    package var required: Bool
    /// OpenShift: the latest `<component>-pod-<N>` folder in `path`.
    package var latestRevisionOf: String?
  }

  /// The paths, in the order they are archived.
  package var items: [Item] {
    switch self {
    case .openshift:
      // cluster-backup.sh keeps the newest revision of each static pod's resources; the
      // encryption configuration is in kube-apiserver-pod-N/secrets/encryption-config.
      return ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"].map {
        Item(path: "etc/kubernetes/static-pod-resources", required: true, latestRevisionOf: $0)
      }
    case .k3s, .rke2:
      let name = rawValue
      return [
        Item(path: "var/lib/rancher/\(name)/server/token", required: true),
        Item(path: "etc/rancher/\(name)/config.yaml", required: false),
        Item(path: "etc/rancher/\(name)/config.yaml.d", required: false),
        Item(path: "var/lib/rancher/\(name)/server/cred/encryption-config.json", required: false),
      ]
    case .kubeadm:
      return [
        Item(path: "etc/kubernetes/pki", required: true),
        Item(path: "etc/kubernetes/manifests", required: true),
        Item(path: "etc/kubernetes/enc", required: false),
      ]
    }
  }

  /// `2` from `kube-apiserver-pod-2` for `kube-apiserver`; nil when the name is another's.
  package static func revision(of name: String, component: String) -> Int? {
    let prefix = component + "-pod-"
    guard name.hasPrefix(prefix) else { return nil }
    let digits = name.dropFirst(prefix.count)
    guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
    return Int(digits)
  }
}

/// The bundle a snapshot's record names (`bundle` in the metadata).
package struct BundleRecord: Codable, Sendable, Equatable {
  /// Its file name, `<snapshot>.bundle.tar[.zst][.age]`.
  package var name: String
  /// Where it was written.
  package var path: String
  /// `s3://bucket/key` of the uploaded copy.
  package var uploadedTo: String?
  /// Size and SHA-256 of the stored file.
  package var size: Int64
  package var sha256: String
  /// Size and SHA-256 of the tar inside.
  package var contentSize: Int64
  package var contentSHA256: String
  package var compression: SnapshotCompression?
  package var encryption: String?
  package var recipients: [String]?
  /// The number of members in the archive.
  package var entries: Int

  /// Whether it is named as a bundle of the snapshot stored as `snapshot` (`x.zst.age` ->
  /// `x.bundle.tar…`): a record cannot steer a removal to another file.
  package func belongs(to snapshot: String) -> Bool {
    let plain = String(SnapshotName.strippingStoredSuffixes(Substring(snapshot)))
    return name.hasPrefix(plain + BundleConfiguration.suffix) && !name.contains("/")
  }

  package init(
    name: String, path: String, size: Int64, sha256: String, contentSize: Int64, contentSHA256: String, entries: Int
  ) {
    self.name = name
    self.path = path
    self.size = size
    self.sha256 = sha256
    self.contentSize = contentSize
    self.contentSHA256 = contentSHA256
    self.entries = entries
  }
}
