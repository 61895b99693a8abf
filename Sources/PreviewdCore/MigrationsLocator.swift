import Foundation

/// Finds the `Migrations` directory shipped with previewd.
public enum MigrationsLocator {
    /// The directory could not be found; `searched` lists every place that was tried.
    public struct NotFound: Error, CustomStringConvertible, Sendable {
        public var searched: [String]

        public var description: String {
            "no Migrations directory found; looked in: \(searched.joined(separator: ", ")). Set PREVIEWD_MIGRATIONS_DIR to the directory holding the NNNN_name.sql files"
        }
    }

    /// Finds the migrations directory, trying in order:
    /// 1. `PREVIEWD_MIGRATIONS_DIR` from the environment (must exist if set),
    /// 2. `./Migrations` in the current directory,
    /// 3. a `Migrations` directory beside a `Package.swift`, walking up from the executable's path
    ///    (`/proc/self/exe`, then `CommandLine.arguments[0]`) — how `swift run` and tests find it.
    public static func locate(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        executablePaths: [String]? = nil
    ) throws(NotFound) -> URL {
        var searched: [String] = []
        if let explicit = environment["PREVIEWD_MIGRATIONS_DIR"], !explicit.isEmpty {
            let url = URL(fileURLWithPath: explicit, relativeTo: currentDirectory).standardizedFileURL
            if isDirectory(url) { return url }
            // An explicit setting that is wrong must not silently fall back to another directory.
            throw NotFound(searched: ["PREVIEWD_MIGRATIONS_DIR=\(url.path) (does not exist)"])
        }
        let local = currentDirectory.appendingPathComponent("Migrations").standardizedFileURL
        if isDirectory(local) { return local }
        searched.append(local.path)

        let starts = executablePaths ?? defaultExecutablePaths()
        for start in starts {
            var directory = URL(fileURLWithPath: start, relativeTo: currentDirectory).standardizedFileURL.deletingLastPathComponent()
            while true {
                let candidate = directory.appendingPathComponent("Migrations")
                if isDirectory(candidate) && FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                    return candidate
                }
                if directory.path == "/" { break }
                directory = directory.deletingLastPathComponent()
            }
            searched.append("Migrations beside a Package.swift above \(start)")
        }
        throw NotFound(searched: searched)
    }

    private static func defaultExecutablePaths() -> [String] {
        var paths: [String] = []
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            paths.append(resolved)
        }
        if let first = CommandLine.arguments.first, !first.isEmpty {
            paths.append(first)
        }
        return paths
    }

    private static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
