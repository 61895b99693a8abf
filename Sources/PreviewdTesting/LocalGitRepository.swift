import Foundation

/// A throwaway git repository on disk, for tests that need real trees and file contents.
public struct LocalGitRepository: Sendable {
    /// The working directory (with its `.git`).
    public let url: URL

    /// Creates an empty repository in a new temporary directory, with `main` as the initial branch.
    public static func create() throws -> LocalGitRepository {
        try create(at: FileManager.default.temporaryDirectory.appendingPathComponent("previewd-git-\(UUID().uuidString)", isDirectory: true))
    }

    /// Creates an empty repository at `url` (made if missing), with `main` as the initial branch.
    public static func create(at url: URL) throws -> LocalGitRepository {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let repository = LocalGitRepository(url: url)
        try repository.git(["init", "--quiet", "--initial-branch=main"])
        try repository.git(["config", "user.email", "tests@previewd.invalid"])
        try repository.git(["config", "user.name", "previewd tests"])
        try repository.git(["config", "commit.gpgsign", "false"])
        return repository
    }

    /// Writes `files` (path → content), commits them on the current branch and returns the commit SHA.
    @discardableResult
    public func commit(_ files: [String: String], message: String = "test commit") throws -> String {
        try commit(files.mapValues { Data($0.utf8) }, message: message)
    }

    /// Writes `files` (path → bytes), commits them and returns the commit SHA.
    @discardableResult
    public func commit(_ files: [String: Data], message: String = "test commit") throws -> String {
        for (path, data) in files {
            let file = url.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: file)
        }
        try git(["add", "--all"])
        try git(["commit", "--quiet", "--allow-empty", "-m", message])
        return try git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates and switches to `branch` at the current commit.
    public func checkoutNewBranch(_ branch: String) throws {
        try git(["checkout", "--quiet", "-b", branch])
    }

    /// Deletes the directory.
    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }

    /// Runs `git` in the repository and returns its standard output as text.
    @discardableResult
    public func git(_ arguments: [String]) throws -> String {
        String(decoding: try gitData(arguments), as: UTF8.self)
    }

    /// Runs `git` in the repository and returns its standard output as bytes.
    public func gitData(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = Self.gitExecutable
        process.arguments = ["-C", url.path] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read before waiting so a full pipe cannot stall git.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LocalGitRepositoryError.gitFailed(
                arguments: arguments, status: process.terminationStatus, output: String(decoding: errorData, as: UTF8.self))
        }
        return data
    }
}

extension LocalGitRepository {
    /// `git` found on `PATH` once: started directly, not through `/usr/bin/env`, which would double the processes the
    /// fake GitHub starts for every answer it reads from git.
    static let gitExecutable: URL = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/git"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        return URL(fileURLWithPath: "/usr/bin/git")
    }()
}

/// A `git` command run by a test helper failed.
public enum LocalGitRepositoryError: Error, CustomStringConvertible {
    case gitFailed(arguments: [String], status: Int32, output: String)

    public var description: String {
        switch self {
        case .gitFailed(let arguments, let status, let output):
            "git \(arguments.joined(separator: " ")) exited with \(status): \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }
}
