import Foundation
import PreviewModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `state.json` in a preview's work directory records (written by allocate and boot).
struct PreviewRecord: Codable, Equatable, Sendable {
    var sessionID: UUID
    var port: Int
    /// The app's shell process, also its process-group id; `nil` until boot starts it.
    var pid: Int32?
    var pgid: Int32?
    var headSHA: String?
    var startedAt: Date?
    /// Install and build already succeeded for this commit with these commands, so a reboot skips them.
    var preparedCommit: String?
    var preparedCommands: [String]?
}

/// The files of one preview: `<root>/<sessionID>/` with `src/`, `env`, `state.json` and `app.log`.
struct WorkDirectory: Sendable {
    let sessionID: UUID
    let url: URL

    init(root: URL, sessionID: UUID) {
        self.sessionID = sessionID
        url = root.appendingPathComponent(sessionID.uuidString.lowercased(), isDirectory: true)
    }

    var source: URL { url.appendingPathComponent("src", isDirectory: true) }
    var environmentFile: URL { url.appendingPathComponent("env") }
    var stateFile: URL { url.appendingPathComponent("state.json") }
    var appLog: URL { url.appendingPathComponent("app.log") }
    /// Created before a boot starts its first process: without it, no process of this preview can be running.
    var bootMarker: URL { url.appendingPathComponent("boot-started") }

    /// Whether a boot may have started a process here: the ``bootMarker``, or the `src/` and `app.log` a boot of a
    /// previewd from before the marker leaves.
    var hasStartedBoot: Bool {
        [bootMarker, source, appLog].contains { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Records that a boot is about to start processes here.
    func markBootStarted() throws {
        guard !hasStartedBoot else { return }
        try writeAtomically(Data(), to: bootMarker, mode: 0o600)
    }

    var exists: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Creates the directory (owner-only: it holds the environment file and the code).
    func create() throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    func readState() -> PreviewRecord? {
        guard let data = FileManager.default.contents(atPath: stateFile.path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(PreviewRecord.self, from: data)
    }

    func writeState(_ record: PreviewRecord) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        encoder.dateEncodingStrategy = .iso8601
        try writeAtomically(try encoder.encode(record), to: stateFile, mode: 0o644)
    }

    /// The commit checked out in `src/`, when it is a detached checkout made by boot.
    func checkedOutCommit() -> String? {
        guard let data = FileManager.default.contents(atPath: source.appendingPathComponent(".git/HEAD").path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The `env` file: `KEY=VALUE` lines (backslash, newline and carriage return escaped), preceded by a
/// `# secrets:` line naming which keys are secrets so boot knows what to redact. Mode 0600.
struct EnvironmentFile: Equatable, Sendable {
    var values: [String: String]
    var secretNames: Set<String>

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
    }

    func encoded() -> Data {
        var text = "# secrets: \(secretNames.sorted().joined(separator: " "))\n"
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\n", with: "\\n")
                .replacingOccurrences(of: "\r", with: "\\r")
            text += "\(key)=\(escaped)\n"
        }
        return Data(text.utf8)
    }

    init(values: [String: String], secretNames: Set<String>) {
        self.values = values
        self.secretNames = secretNames
    }

    init(decoding data: Data) {
        var values: [String: String] = [:]
        var secrets: Set<String> = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# secrets:") {
                secrets.formUnion(line.dropFirst("# secrets:".count).split(separator: " ").map(String.init))
                continue
            }
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            var value = ""
            var escaping = false
            for character in line[line.index(after: equals)...] {
                if escaping {
                    value.append(character == "n" ? "\n" : character == "r" ? "\r" : character)
                    escaping = false
                } else if character == "\\" {
                    escaping = true
                } else {
                    value.append(character)
                }
            }
            values[String(line[..<equals])] = value
        }
        self.init(values: values, secretNames: secrets)
    }

    static func read(from url: URL) -> EnvironmentFile? {
        FileManager.default.contents(atPath: url.path).map(EnvironmentFile.init(decoding:))
    }

    func write(to url: URL) throws {
        try writeAtomically(encoded(), to: url, mode: 0o600)
    }
}

/// Writes `data` to a temporary file created with `mode` (never readable by others, even briefly) and
/// renames it over `url`.
func writeAtomically(_ data: Data, to url: URL, mode: mode_t) throws {
    let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
    let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    var failure: Int32 = 0
    // The umask may have removed bits; set exactly what was asked for.
    if fchmod(fd, mode) != 0 { failure = errno }
    if failure == 0 {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
    }
    if failure == 0, fsync(fd) != 0 { failure = errno }
    close(fd)
    if failure == 0, rename(temporary.path, url.path) != 0 { failure = errno }
    if failure != 0 {
        unlink(temporary.path)
        throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO)
    }
}

/// Replaces secret values in text that is about to be logged or put in an error.
struct Redactor: Sendable {
    static let replacement = "[redacted]"
    private let values: [String]

    /// Values shorter than four characters are left alone: replacing every `1` or `on` in a build log
    /// would make it unreadable while hiding nothing worth guessing.
    init(_ secrets: some Sequence<String>) {
        values = Set(secrets.filter { $0.count >= 4 }).sorted { $0.count > $1.count }
    }

    func redact(_ text: String) -> String {
        var result = text
        for value in values where result.contains(value) {
            result = result.replacingOccurrences(of: value, with: Self.replacement)
        }
        return result
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
