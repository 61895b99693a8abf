/// Why the configuration could not be loaded; every case names the variable, key or file to fix.
///
/// Values of secret variables are never repeated in messages.
public enum ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `name` (an environment variable or a JSON key path) has a value that is not `expected`.
    /// `got` is the offending value, or `nil` when the variable holds a secret.
    case invalidValue(name: String, expected: String, got: String?)
    /// Two variables that exclude each other are both set.
    case conflictingVariables(String, String)
    /// A file named by `variable` cannot be read.
    case unreadableFile(variable: String, path: String, reason: String)
    /// The JSON configuration file is malformed; `key` is the dotted path of the bad key, if known.
    case invalidConfigFile(path: String, key: String?, reason: String)
    /// The data directory or a file in it cannot be created, read or written.
    case dataDirectory(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidValue(let name, let expected, let got):
            if let got { return "\(name) must be \(expected), got '\(got)'" }
            return "\(name) must be \(expected) (value not shown because it is secret)"
        case .conflictingVariables(let first, let second):
            return "\(first) and \(second) are both set; set only one of them"
        case .unreadableFile(let variable, let path, let reason):
            return "\(variable) names '\(path)', which cannot be read: \(reason)"
        case .invalidConfigFile(let path, let key, let reason):
            if let key { return "Configuration file '\(path)': key '\(key)': \(reason)" }
            return "Configuration file '\(path)': \(reason)"
        case .dataDirectory(let path, let reason):
            return "Data directory problem at '\(path)': \(reason) (set PREVIEWD_DATA_DIR to a writable directory)"
        }
    }
}
