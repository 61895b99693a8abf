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
    ///
    /// Reads each process's environment first (a byte search, no allocation per variable) and its `stat` only
    /// for the few that carry the marker. Callers that may run many at once (boots, teardowns) use ``SharedProcessScan``.
    static func processes(of sessionID: UUID) -> [Entry] {
        markedProcesses()[sessionID] ?? []
    }

    /// Every live process carrying the marker, by the preview it names: one pass over `/proc`.
    static func markedProcesses() -> [UUID: [Entry]] {
        let prefix = Array("\(marker)=".utf8)
        let me = getpid()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var found: [UUID: [Entry]] = [:]
        for pid in processIDs() where pid != me {
            guard let length = read("/proc/\(pid)/environ", into: &buffer),
                  let value = variableValue(prefix, in: buffer, length: length),
                  let sessionID = UUID(uuidString: value), let entry = liveEntry(pid) else { continue }
            found[sessionID, default: []].append(entry)
        }
        return found
    }

    /// Whether process `pid` is alive and carries the marker of `sessionID`: an answer from two small reads, for
    /// an app's process-group leader, without a scan of every process.
    static func isMarked(_ pid: pid_t, as sessionID: UUID) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        guard pid > 0, let length = read("/proc/\(pid)/environ", into: &buffer),
              variableValue(Array("\(marker)=".utf8), in: buffer, length: length) == sessionID.uuidString else { return false }
        return liveEntry(pid) != nil
    }

    /// The value of the NUL-separated `environment`'s entry that starts with `prefix` (`NAME=`), if any.
    static func variableValue(_ prefix: [UInt8], in environment: [UInt8], length: Int) -> String? {
        guard !prefix.isEmpty else { return nil }
        return environment.withUnsafeBufferPointer { haystack -> String? in
            prefix.withUnsafeBufferPointer { wanted -> String? in
                var start = 0
                while start < length {
                    var end = start
                    while end < length && haystack[end] != 0 { end += 1 }
                    if end - start >= wanted.count && memcmp(haystack.baseAddress! + start, wanted.baseAddress!, wanted.count) == 0 {
                        return String(decoding: UnsafeBufferPointer(rebasing: haystack[(start + wanted.count)..<end]), as: UTF8.self)
                    }
                    start = end + 1
                }
                return nil
            }
        }
    }

    /// Reads up to the buffer's size of a (small) /proc file; nil when it cannot be read.
    private static func read(_ path: String, into buffer: inout [UInt8]) -> Int? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var total = 0
        while total < buffer.count {
            let count = buffer.withUnsafeMutableBytes { raw in Glibc.read(descriptor, raw.baseAddress! + total, raw.count - total) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            total += count
        }
        return total
    }

    /// The numeric entries of `/proc`.
    private static func processIDs() -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let pid = pid_t(name), pid > 0 { pids.append(pid) }
        }
        return pids
    }

    /// Whether process `pid` exists and is not a zombie.
    static func isLive(_ pid: pid_t) -> Bool {
        liveEntry(pid) != nil
    }

    /// `pid` with its process group, unless it is gone or a zombie.
    private static func liveEntry(_ pid: pid_t) -> Entry? {
        guard let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        // Fields after the parenthesised command name (which may itself contain spaces and parentheses).
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 2, fields[0] != "Z", fields[0] != "X", let group = pid_t(fields[2]) else { return nil }
        return Entry(pid: pid, processGroup: group)
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

    /// Whether a process group has a member that still runs. A group of zombies has stopped: its processes exited and
    /// only wait for their parent to collect them, which for an app whose previewd was killed is an init that may reap
    /// late or never (a container's). Checks the leader (an app leads its own group) and, only when that one is gone,
    /// every process; where `/proc` cannot tell, any member counts.
    static func groupHasLiveMember(_ processGroup: pid_t) -> Bool {
        guard groupExists(processGroup) else { return false }
        guard hasProcFileSystem else { return true }
        if isLive(processGroup) { return true }
        return liveProcesses().contains { $0.processGroup == processGroup }
    }

    /// Every process other than previewd itself that is not a zombie, with its process group.
    static func liveProcesses() -> [Entry] {
        let me = getpid()
        return processIDs().compactMap { $0 == me ? nil : liveEntry($0) }
    }
}
