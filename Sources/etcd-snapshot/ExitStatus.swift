import SnapshotCore

/// The exit status of each kind of failure, documented in the README and in `--help`.
extension SnapshotError.Code {
  /// Exit status of the CLI for this code (documented in the README).
  var exitStatus: Int32 {
    switch self {
    case .invalidConfiguration: 64
    case .corrupt: 65
    case .notFound: 66
    case .unavailable, .interrupted: 69
    case .cannotWrite: 73
    case .io: 74
    case .permissionDenied: 77
    case .tls: 78
    case .internal: 70
    case .cancelled: 130
    case .busy: 75
    }
  }
}
