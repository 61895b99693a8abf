import PreviewModel

/// Fly app names for previews: `pv-<repo>-<branch or pr-N>-<hash>`, lowercase `[a-z0-9-]`, at most 63 characters.
///
/// Fly app names are one global namespace, so the hash of the full repository and branch keeps two previews
/// apart even when their readable parts are cut short; a later `attempt` hashes differently, for when someone
/// outside previewd's organization holds a name.
public enum FlyAppName {
    /// The longest name Fly accepts (a DNS label: `<app>.fly.dev`).
    public static let maximumLength = 63
    public static let prefix = "pv-"

    /// The name for `identity`; `attempt` 0 is the usual one, higher attempts are alternatives.
    public static func make(for identity: PreviewIdentity, attempt: Int = 0) -> String {
        let target = identity.pullRequest.map { "pr-\($0)" } ?? identity.branch
        let repositoryName = identity.repository.split(separator: "/").last.map(String.init) ?? identity.repository
        var key = "\(identity.repository.lowercased())\n\(target)"
        if attempt > 0 { key += "\n#\(attempt)" }
        let hash = String(fnv1a(key), radix: 36).leftPadded(to: 8).suffix(8)
        let readable = slug("\(repositoryName)-\(target)")
        let room = maximumLength - prefix.count - 1 - hash.count
        var head = String(readable.prefix(room))
        while head.hasSuffix("-") { head.removeLast() }
        return head.isEmpty ? "\(prefix)\(hash)" : "\(prefix)\(head)-\(hash)"
    }

    /// Whether `name` is a valid Fly app name of this shape.
    public static func isValid(_ name: String) -> Bool {
        name.count <= maximumLength && name.hasPrefix(prefix) && !name.hasSuffix("-")
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// Lowercase letters and digits, every other run of characters as one `-`, none at either end.
    static func slug(_ text: String) -> String {
        var result = ""
        for scalar in text.lowercased().unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                result.unicodeScalars.append(scalar)
            } else if !result.isEmpty, !result.hasSuffix("-") {
                result += "-"
            }
        }
        while result.hasSuffix("-") { result.removeLast() }
        return result
    }

    /// 64-bit FNV-1a: stable across processes and platforms, unlike `Hasher`.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
