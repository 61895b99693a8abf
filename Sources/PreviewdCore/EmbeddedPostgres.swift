import Foundation
import Postgres
import PreviewdLogging

/// Why the embedded PostgreSQL could not be started or stopped.
public enum EmbeddedPostgresError: Error, CustomStringConvertible, Sendable {
    /// `initdb`/`pg_ctl` are not installed.
    case binariesNotFound(searched: [String])
    /// Running as root, but `runuser` (needed to run PostgreSQL as the `postgres` user) is missing.
    case runuserNotFound
    /// Running as root, but there is no `postgres` system user to own the cluster.
    case postgresUserMissing
    /// The data directory exists, is not a PostgreSQL cluster, and is not empty.
    case notAClusterDirectory(path: String)
    /// A helper program failed; `output` is its combined output (or the server log's tail).
    case commandFailed(command: String, status: Int32, output: String)
    /// The server started but never accepted connections.
    case notReady(PostgresError)
    /// The file system refused an operation on the cluster's directories.
    case fileSystem(path: String, reason: String)

    public var description: String {
        switch self {
        case .binariesNotFound(let searched):
            return "PostgreSQL server binaries (initdb, pg_ctl) not found in \(searched.joined(separator: ", ")); install them with `apt-get install postgresql`"
        case .runuserNotFound:
            return "running as root needs `runuser` (package util-linux) to start PostgreSQL as the postgres user"
        case .postgresUserMissing:
            return "running as root needs a `postgres` system user to own the cluster; `apt-get install postgresql` creates it"
        case .notAClusterDirectory(let path):
            return "\(path) is not empty and is not a PostgreSQL data directory; point the data directory elsewhere or empty it"
        case .commandFailed(let command, let status, let output):
            return "`\(command)` exited with status \(status): \(output)"
        case .notReady(let error):
            return "PostgreSQL started but does not accept connections: \(error)"
        case .fileSystem(let path, let reason):
            return "cannot prepare \(path): \(reason)"
        }
    }
}

/// A private PostgreSQL server for development and tests, kept in a directory of its own.
///
/// The first ``start()`` runs `initdb`; later starts reuse the data. The server listens only on a
/// unix socket (`listen_addresses = ''`), so it never clashes with another server's TCP port and is
/// unreachable from the network. The socket lives in `<dataDirectory>/run`, or in a short
/// `/tmp/previewd-pg-<hash>` directory when that path would exceed the 107-byte socket-path limit.
///
/// PostgreSQL refuses to run as root. When previewd runs as root, the cluster is owned by the
/// `postgres` system user and every server command runs through `runuser -u postgres --`. If that
/// user cannot reach the data directory (for instance under `/root`, mode 0700), the cluster is
/// placed in `/var/lib/previewd/clusters/<hash of the path>` instead, and a notice says so.
public final class EmbeddedPostgres: Sendable {
    /// Server options.
    public struct Configuration: Sendable {
        /// Port number; with a unix socket it only names the socket file.
        public var port: Int = 5432
        /// Role created by `initdb` (trust authentication, no password).
        public var user: String = "previewd"
        /// Database created on start when missing.
        public var database: String = "previewd"
        /// Extra `postgresql.conf` settings, e.g. `["fsync": "off"]` for throwaway test clusters.
        public var settings: [String: String] = [:]

        public init(port: Int = 5432, user: String = "previewd", database: String = "previewd", settings: [String: String] = [:]) {
            self.port = port
            self.user = user
            self.database = database
            self.settings = settings
        }
    }

    /// The directory the caller asked for.
    public let dataDirectory: URL
    /// Where the cluster actually lives (differs from ``dataDirectory`` only when relocated).
    public let clusterRoot: URL
    public let configuration: Configuration
    private let logger: Logger
    private let runAsPostgres: Bool

    private var pgData: URL { clusterRoot.appendingPathComponent("data") }
    private var logFile: URL { clusterRoot.appendingPathComponent("postgres.log") }

    /// The directory holding the server's unix socket.
    public var socketDirectory: URL {
        let preferred = clusterRoot.appendingPathComponent("run")
        if (preferred.path + "/.s.PGSQL.\(configuration.port)").utf8.count <= 100 {
            return preferred
        }
        return URL(fileURLWithPath: "/tmp/previewd-pg-" + String(SHA256.hex(of: Data(clusterRoot.path.utf8)).prefix(12)))
    }

    /// Prepares (but does not start) a server kept under `dataDirectory`.
    public init(dataDirectory: URL, configuration: Configuration = Configuration(), logger: Logger) {
        let absolute = dataDirectory.standardizedFileURL.absoluteURL
        self.dataDirectory = absolute
        self.configuration = configuration
        self.logger = logger.with(["postgres.embedded": absolute.path])
        self.runAsPostgres = geteuid() == 0
        if runAsPostgres && !Self.postgresUserCanReach(absolute) {
            let relocated = URL(fileURLWithPath: "/var/lib/previewd/clusters/" + String(SHA256.hex(of: Data(absolute.path.utf8)).prefix(16)))
            self.clusterRoot = relocated
            logger.notice(
                "the postgres user cannot reach the data directory, keeping the cluster elsewhere",
                ["postgres.requested": absolute.path, "postgres.cluster": relocated.path]
            )
        } else {
            self.clusterRoot = absolute
        }
    }

    /// Starts the server (running `initdb` first if needed), waits until it accepts connections,
    /// creates the database if missing, and returns how to connect.
    ///
    /// A server already running on this cluster (say, left over after previewd was killed) is reused;
    /// a stale `postmaster.pid` from a crash is removed.
    public func start() async throws(EmbeddedPostgresError) -> PostgresConfiguration {
        try await Self.offPool { () throws(EmbeddedPostgresError) in try self.startBlocking() }
    }

    /// Stops the server (`pg_ctl stop -m fast`); does nothing if it is not running.
    public func stop() async throws(EmbeddedPostgresError) {
        try await Self.offPool { () throws(EmbeddedPostgresError) in try self.stopBlocking(mode: "fast") }
    }

    /// How clients reach this server once it runs.
    public var connectionConfiguration: PostgresConfiguration {
        PostgresConfiguration(
            host: socketDirectory.path, port: configuration.port, user: configuration.user,
            database: configuration.database, sslMode: .disable, applicationName: "previewd"
        )
    }

    // MARK: - Blocking implementation (dedicated threads only)

    /// Stops the server from a thread that may block, such as an exit handler.
    public func stopBlocking(mode: String = "fast") throws(EmbeddedPostgresError) {
        let tools = try Self.locateBinaries()
        guard FileManager.default.fileExists(atPath: pgData.appendingPathComponent("postmaster.pid").path) else { return }
        let result = try run(tools.pgCtl, ["stop", "-D", pgData.path, "-m", mode, "-w", "-t", "60", "-s"])
        // Status 1 with "not running" after a crash is fine: there is nothing to stop.
        if result.status != 0 && !result.output.contains("Is server running?") && !result.output.contains("does not exist") {
            throw .commandFailed(command: "pg_ctl stop", status: result.status, output: result.output)
        }
        logger.info("stopped embedded PostgreSQL")
    }

    private func startBlocking() throws(EmbeddedPostgresError) -> PostgresConfiguration {
        let tools = try Self.locateBinaries()
        try prepareDirectories()
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: pgData.appendingPathComponent("PG_VERSION").path) {
            if let contents = try? fileManager.contentsOfDirectory(atPath: pgData.path), !contents.isEmpty {
                throw .notAClusterDirectory(path: pgData.path)
            }
            logger.info("initialising embedded PostgreSQL cluster", ["postgres.data": pgData.path])
            let result = try run(tools.initdb, [
                "-D", pgData.path, "-U", configuration.user, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions",
            ])
            guard result.status == 0 else {
                throw .commandFailed(command: "initdb", status: result.status, output: result.output)
            }
            let conf = pgData.appendingPathComponent("postgresql.conf")
            do {
                let handle = try FileHandle(forWritingTo: conf)
                try handle.seekToEnd()
                try handle.write(contentsOf: Data("\n# Written by previewd on every start.\ninclude_if_exists = 'previewd.conf'\n".utf8))
                try handle.close()
            } catch {
                throw .fileSystem(path: conf.path, reason: "\(error)")
            }
        }
        try writeSettings()

        if !isServerAlive() {
            removeStaleLockFiles()
            logger.info("starting embedded PostgreSQL", ["postgres.socket": socketDirectory.path])
            let result = try run(tools.pgCtl, ["start", "-D", pgData.path, "-l", logFile.path, "-w", "-t", "60", "-s"])
            guard result.status == 0 else {
                throw .commandFailed(command: "pg_ctl start", status: result.status, output: result.output + "\n" + logTail())
            }
        } else {
            logger.info("reusing the embedded PostgreSQL that is already running")
        }
        try waitUntilReadyAndCreateDatabase()
        return connectionConfiguration
    }

    private func prepareDirectories() throws(EmbeddedPostgresError) {
        let fileManager = FileManager.default
        for directory in [clusterRoot, socketDirectory] {
            do {
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw .fileSystem(path: directory.path, reason: "\(error)")
            }
        }
        guard runAsPostgres else { return }
        guard getpwnam("postgres") != nil else { throw .postgresUserMissing }
        for directory in [clusterRoot, socketDirectory] {
            let result = try run(URL(fileURLWithPath: "/bin/chown"), ["-R", "postgres:postgres", directory.path], asPostgres: false)
            guard result.status == 0 else {
                throw .fileSystem(path: directory.path, reason: "chown to postgres failed: \(result.output)")
            }
        }
    }

    private func writeSettings() throws(EmbeddedPostgresError) {
        var settings = [
            "listen_addresses": "''",
            "unix_socket_directories": "'\(socketDirectory.path.replacingOccurrences(of: "'", with: "''"))'",
            "port": String(configuration.port),
        ]
        for (key, value) in configuration.settings { settings[key] = value }
        let text = settings.keys.sorted().map { "\($0) = \(settings[$0]!)" }.joined(separator: "\n") + "\n"
        let file = pgData.appendingPathComponent("previewd.conf")
        do {
            try Data(text.utf8).write(to: file)
        } catch {
            throw .fileSystem(path: file.path, reason: "\(error)")
        }
    }

    /// True when `postmaster.pid` names a live postgres process.
    private func isServerAlive() -> Bool {
        guard let text = try? String(contentsOf: pgData.appendingPathComponent("postmaster.pid"), encoding: .utf8),
              let firstLine = text.split(separator: "\n").first, let pid = Int32(firstLine.trimmingCharacters(in: .whitespaces)),
              pid > 0 else { return false }
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        // A reused pid belongs to some other program: then the lock file is stale.
        let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return command == nil || command == "postgres" || command == "postmaster"
    }

    /// Removes lock files left behind by a server that was killed.
    private func removeStaleLockFiles() {
        let fileManager = FileManager.default
        let pidFile = pgData.appendingPathComponent("postmaster.pid")
        if fileManager.fileExists(atPath: pidFile.path) {
            logger.notice("removing stale postmaster.pid left by a server that is no longer running")
            try? fileManager.removeItem(at: pidFile)
        }
        let port = configuration.port
        for name in [".s.PGSQL.\(port)", ".s.PGSQL.\(port).lock"] {
            try? fileManager.removeItem(at: socketDirectory.appendingPathComponent(name))
        }
    }

    private func waitUntilReadyAndCreateDatabase() throws(EmbeddedPostgresError) {
        var maintenance = connectionConfiguration
        maintenance.database = "postgres"
        maintenance.connectTimeout = 5
        var lastError = PostgresError.connectionFailed(message: "not tried")
        for _ in 0..<300 {
            do throws(PostgresError) {
                let connection = try PostgresConnection(configuration: maintenance)
                let rows = try connection.query("SELECT 1 FROM pg_database WHERE datname = \(configuration.database)")
                if rows.isEmpty {
                    do throws(PostgresError) {
                        try connection.execute("CREATE DATABASE \(identifier: configuration.database)")
                        logger.info("created database", ["postgres.database": configuration.database])
                    } catch where error.sqlState == "42P04" {
                        // Created concurrently by another starter: fine.
                    }
                }
                return
            } catch {
                lastError = error
                // 57P03: "the database system is starting up".
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
        throw .notReady(lastError)
    }

    private func logTail() -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    // MARK: - Processes

    struct CommandResult {
        var status: Int32
        var output: String
    }

    /// Runs a program to completion, as the `postgres` user when previewd runs as root.
    private func run(_ executable: URL, _ arguments: [String], asPostgres: Bool? = nil) throws(EmbeddedPostgresError) -> CommandResult {
        if asPostgres ?? runAsPostgres {
            guard let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                throw .runuserNotFound
            }
            return try Self.spawnAndWait(runuser, ["-u", "postgres", "--", executable.path] + arguments)
        }
        return try Self.spawnAndWait(executable.path, arguments)
    }

    /// `posix_spawn` + `waitpid` on the calling (dedicated) thread.
    ///
    /// Foundation's `Process` reaps children from a Dispatch queue; with the few cooperative threads
    /// of a 2-core machine busy, that queue can starve and `waitUntilExit` never returns. Output goes
    /// to a temporary file rather than a pipe, because the server that `pg_ctl start` leaves running
    /// would otherwise be able to hold the pipe open.
    static func spawnAndWait(_ path: String, _ arguments: [String]) throws(EmbeddedPostgresError) -> CommandResult {
        let command = ([URL(fileURLWithPath: path).lastPathComponent] + arguments).joined(separator: " ")
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("previewd-command-\(UUID().uuidString).log").path
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // The caller's directory may be unreadable for the postgres user (e.g. /root).
        if let addChdir = GlibcSpawnExtras.addChdir {
            _ = addChdir(&actions, "/")
        }
        // Keep our descriptors (test-runner pipes, sockets) out of the children and the server.
        if let addClosefrom = GlibcSpawnExtras.addClosefrom {
            _ = addClosefrom(&actions, 3)
        }

        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        environment.removeValue(forKey: "PGDATA")
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw .commandFailed(command: command, status: -1, output: String(cString: strerror(spawned)))
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else {
                throw .commandFailed(command: command, status: -1, output: "waitpid failed: \(String(cString: strerror(errno)))")
            }
        }
        // WIFEXITED/WEXITSTATUS are macros Swift does not import.
        let exitStatus: Int32 = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return CommandResult(status: exitStatus, output: output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// glibc's `_np` spawn actions, which Swift does not import without `_GNU_SOURCE`.
    private enum GlibcSpawnExtras {
        typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
        typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

        static let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: AddChdir.self) }
        static let addClosefrom: AddClosefrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddClosefrom.self) }
    }

    struct Binaries {
        var initdb: URL
        var pgCtl: URL
    }

    /// Finds `initdb` and `pg_ctl` on PATH, else in the newest `/usr/lib/postgresql/<version>/bin`.
    static func locateBinaries() throws(EmbeddedPostgresError) -> Binaries {
        let fileManager = FileManager.default
        var searched: [String] = []
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var candidates = path.split(separator: ":").map(String.init)
        let versions = ((try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap { name in Int(name).map { ($0, name) } }
            .sorted { $0.0 > $1.0 }
        candidates += versions.map { "/usr/lib/postgresql/\($0.1)/bin" }
        for directory in candidates {
            searched.append(directory)
            let initdb = URL(fileURLWithPath: directory).appendingPathComponent("initdb")
            let pgCtl = URL(fileURLWithPath: directory).appendingPathComponent("pg_ctl")
            if fileManager.isExecutableFile(atPath: initdb.path) && fileManager.isExecutableFile(atPath: pgCtl.path) {
                return Binaries(initdb: initdb, pgCtl: pgCtl)
            }
        }
        if versions.isEmpty { searched.append("/usr/lib/postgresql/*/bin") }
        throw .binariesNotFound(searched: searched)
    }

    /// True when the `postgres` user can search every directory on the way to `url`.
    private static func postgresUserCanReach(_ url: URL) -> Bool {
        guard let entry = getpwnam("postgres") else { return true }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        var directory = url.deletingLastPathComponent()
        while true {
            var info = stat()
            if stat(directory.path, &info) == 0 {
                let mode = info.st_mode
                let searchable: Bool
                if info.st_uid == uid {
                    searchable = mode & S_IXUSR != 0
                } else if info.st_gid == gid {
                    searchable = mode & S_IXGRP != 0
                } else {
                    searchable = mode & S_IXOTH != 0
                }
                if !searchable { return false }
            }
            if directory.path == "/" { return true }
            directory = directory.deletingLastPathComponent()
        }
    }

    /// Runs blocking work on a thread of its own, never on the cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws(EmbeddedPostgresError) -> T) async throws(EmbeddedPostgresError) -> T {
        let result: Result<T, EmbeddedPostgresError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(EmbeddedPostgresError) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "embedded-postgres"
            thread.start()
        }
        return try result.get()
    }
}
