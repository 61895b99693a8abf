import Foundation
import PreviewdCrypto

/// The webhook secret previewd generates for itself when `GITHUB_WEBHOOK_SECRET` is not set.
///
/// On first start it writes 32 random bytes as hex to `<data>/webhook-secret` (mode 0600, the
/// directory 0700); later starts reuse it, so the secret shown to the operator stays valid.
public enum WebhookSecretStore {
    /// The file name inside the data directory.
    public static let fileName = "webhook-secret"

    /// Returns the stored secret, creating the data directory and the secret on first use.
    ///
    /// Creation is race-free: the secret is written to a temporary file and hard-linked into
    /// place, so when two instances start at once both end up with the one that landed first.
    /// A file readable by group or others has its permissions tightened to 0600.
    public static func loadOrCreate(dataDirectory: String) throws(ConfigurationError) -> (secret: Secret, path: String, created: Bool) {
        try createDirectory(dataDirectory)
        let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent(fileName).path
        if let existing = try readExisting(path) {
            return (existing, path, false)
        }
        let generated = SecureRandom.hexString(byteCount: 32)
        let temporary = path + ".tmp-\(getpid())-\(SecureRandom.hexString(byteCount: 4))"
        try writeNewFile(temporary, contents: generated + "\n")
        defer { unlink(temporary) }
        if link(temporary, path) == 0 {
            syncDirectory(dataDirectory)
            return (Secret(generated), path, true)
        }
        let linkError = errno
        guard linkError == EEXIST, let winner = try readExisting(path) else {
            throw .dataDirectory(path: path, reason: "cannot create the webhook secret file: \(String(cString: strerror(linkError)))")
        }
        return (winner, path, false)
    }

    private static func createDirectory(_ directory: String) throws(ConfigurationError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw .dataDirectory(path: directory, reason: "exists but is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .dataDirectory(path: directory, reason: "cannot create it: \(error.localizedDescription)")
        }
        // The umask may have removed bits but never adds them; set 0700 explicitly anyway.
        guard chmod(directory, 0o700) == 0 else {
            throw .dataDirectory(path: directory, reason: "cannot set its permissions to 0700: \(String(cString: strerror(errno)))")
        }
    }

    /// The secret in `path`, `nil` if the file does not exist.
    private static func readExisting(_ path: String) throws(ConfigurationError) -> Secret? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw .dataDirectory(path: path, reason: String(cString: strerror(errno)))
        }
        if info.st_mode & 0o077 != 0 {
            guard chmod(path, 0o600) == 0 else {
                throw .dataDirectory(path: path, reason: "the webhook secret file is readable by other users and its permissions cannot be set to 0600: \(String(cString: strerror(errno)))")
            }
        }
        let data: Data
        do { data = try readFile(path) } catch {
            throw .dataDirectory(path: path, reason: "cannot read the webhook secret file: \(error.reason)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, !text.contains("\n") else {
            throw .dataDirectory(path: path, reason: "the webhook secret file must hold one non-empty line; delete it to generate a new secret")
        }
        return Secret(text)
    }

    private static func writeNewFile(_ path: String, contents: String) throws(ConfigurationError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .dataDirectory(path: path, reason: "cannot create a file: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .dataDirectory(path: path, reason: "cannot write: \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        guard fchmod(descriptor, 0o600) == 0, fsync(descriptor) == 0 else {
            throw .dataDirectory(path: path, reason: "cannot finish writing: \(String(cString: strerror(errno)))")
        }
    }

    /// Makes the new directory entry durable; failure only weakens durability, so it is ignored.
    private static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        close(descriptor)
    }
}
