import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the processes that belong to a preview.
///
/// Every process previewd starts for a preview carries ``marker`` in its environment, and children inherit
/// it. Scanning `/proc` for it finds the preview's processes even after a previewd restart, even when one
/// left its process group, and never mistakes an unrelated process that got a recycled pid for ours.
enum ProcessTable {
    /// The environment variable naming the preview a process belongs to.
    static let marker = "PREVIEWD_PREVIEW_ID"

    /// A running (not zombie) process.
    struct Entry: Sendable, Equatable {
        var pid: pid_t
        var processGroup: pid_t
    }

    /// Whether `/proc` can be scanned; elsewhere only process groups are checked.
    static var hasProcFileSystem: Bool { FileManager.default.fileExists(atPath: "/proc/self/stat") }

    /// The live processes whose environment names `sessionID`.
    static func processes(of sessionID: UUID) -> [Entry] {
        let needle = Data("\(marker)=\(sessionID.uuidString)".utf8)
        return liveProcesses().filter { entry in
            guard let environment = FileManager.default.contents(atPath: "/proc/\(entry.pid)/environ") else { return false }
            return environment.split(separator: 0).contains { Data($0) == needle }
        }
    }

    /// The live processes whose working directory is `directory` or below it.
    static func processes(under directory: URL) -> [Entry] {
        let root = directory.standardizedFileURL.resolvingSymlinksInPath().path
        return liveProcesses().filter { entry in
            guard let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry.pid)/cwd") else { return false }
            return cwd == root || cwd.hasPrefix(root + "/")
        }
    }

    /// Whether a process group has any member, zombies included.
    static func groupExists(_ processGroup: pid_t) -> Bool {
        guard processGroup > 1 else { return false }
        return kill(-processGroup, 0) == 0 || errno == EPERM
    }

    /// Every process other than previewd itself that is not a zombie, with its process group.
    static func liveProcesses() -> [Entry] {
        let me = getpid()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { name -> Entry? in
            guard let pid = pid_t(name), pid != me,
                  let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
            // Fields after the parenthesised command name (which may itself contain spaces and parentheses).
            let text = String(decoding: stat, as: UTF8.self)
            guard let close = text.lastIndex(of: ")") else { return nil }
            let fields = text[text.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", fields[0] != "X", let group = pid_t(fields[2]) else { return nil }
            return Entry(pid: pid, processGroup: group)
        }
    }
}
