import Foundation
import Postgres
import PreviewdLogging

/// One numbered SQL file from the migrations directory.
public struct Migration: Sendable, Hashable {
    /// The number before the first underscore, e.g. 1 for `0001_sessions.sql`.
    public var version: Int
    /// The rest of the name, e.g. `sessions`.
    public var name: String
    /// The file name, e.g. `0001_sessions.sql`.
    public var fileName: String
    /// SHA-256 of the file's bytes, lowercase hex.
    public var checksum: String
    /// The SQL text.
    public var sql: String
}

/// A migration recorded in `schema_migrations`.
public struct AppliedMigration: Sendable, Hashable {
    public var version: Int
    public var name: String
    public var checksum: String
    public var appliedAt: Date
}

/// Where the database schema stands relative to the migration files.
public struct MigrationStatus: Sendable {
    public var applied: [AppliedMigration]
    public var pending: [Migration]
    /// True when every file is applied (the /readyz "migrations applied" check).
    public var isUpToDate: Bool { pending.isEmpty }
}

/// Why migrations could not be read or applied.
public enum MigrationError: Error, CustomStringConvertible, Sendable {
    /// The migrations directory could not be listed or a file not read.
    case unreadable(path: String, reason: String)
    /// A `.sql` file whose name is not `NNNN_name.sql`.
    case badFileName(String)
    /// Two files carry the same version number.
    case duplicateVersion(Int, files: [String])
    /// An applied file was edited afterwards.
    case checksumMismatch(file: String, recorded: String, actual: String)
    /// The database records a version for which there is no file.
    case missingFile(version: Int, name: String)
    /// A migration's SQL failed; nothing of it was kept.
    case failed(file: String, error: PostgresError)
    /// The database could not be reached or the bookkeeping failed.
    case database(PostgresError)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read migrations at \(path): \(reason)"
        case .badFileName(let name):
            return "migration file \(name) is not named NNNN_name.sql"
        case .duplicateVersion(let version, let files):
            return "migration version \(version) is used by several files: \(files.joined(separator: ", "))"
        case .checksumMismatch(let file, let recorded, let actual):
            return "migration \(file) was changed after it was applied (recorded sha256 \(recorded), file now \(actual)); add a new migration instead of editing an applied one"
        case .missingFile(let version, let name):
            return "the database has migration \(version) (\(name)) applied but there is no file for it; is this an older previewd than the database?"
        case .failed(let file, let error):
            return "migration \(file) failed and was rolled back: \(error)"
        case .database(let error):
            return "cannot apply migrations: \(error)"
        }
    }
}

/// Applies numbered SQL files to the database, each once, each in its own transaction.
///
/// Progress is recorded in `schema_migrations`. A session-level advisory lock is held for the whole
/// run, so several previewd instances starting together apply each file exactly once: the others
/// wait, then find nothing left to do.
public struct Migrator: Sendable {
    /// `pg_advisory_lock` key: the ASCII bytes of "previewd".
    public static let advisoryLockKey: Int64 = 0x7072_6576_6965_7764

    public let client: PostgresClient
    public let directory: URL
    private let logger: Logger

    public init(client: PostgresClient, directory: URL, logger: Logger) {
        self.client = client
        self.directory = directory
        self.logger = logger
    }

    /// Reads and orders the migration files.
    public func loadMigrations() throws(MigrationError) -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .unreadable(path: directory.path, reason: "\(error)")
        }
        var byVersion: [Int: Migration] = [:]
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            let stem = fileName.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"),
                  let version = Int(stem[..<underscore]), version >= 0,
                  stem[..<underscore].allSatisfy(\.isASCII),
                  stem.index(after: underscore) < stem.endIndex else {
                throw .badFileName(fileName)
            }
            let url = directory.appendingPathComponent(fileName)
            let data: Data
            do {
                data = try Data(contentsOf: url)
            } catch {
                throw .unreadable(path: url.path, reason: "\(error)")
            }
            guard let sql = String(data: data, encoding: .utf8) else {
                throw .unreadable(path: url.path, reason: "not UTF-8")
            }
            if let existing = byVersion[version] {
                throw .duplicateVersion(version, files: [existing.fileName, fileName])
            }
            byVersion[version] = Migration(
                version: version, name: String(stem[stem.index(after: underscore)...]), fileName: fileName,
                checksum: SHA256.hex(of: data), sql: sql
            )
        }
        return byVersion.values.sorted { $0.version < $1.version }
    }

    /// Applies every pending migration and returns them, in order.
    @discardableResult
    public func migrate() async throws(MigrationError) -> [Migration] {
        let migrations = try loadMigrations()
        do {
            return try await client.withConnection { connection in
                try await connection.execute("SELECT pg_advisory_lock(\(Self.advisoryLockKey))")
                do {
                    let applied = try await apply(migrations, on: connection)
                    try await connection.execute("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                    return applied
                } catch {
                    // Ending the session would release the lock too, but the connection goes back to the pool.
                    _ = try? await connection.execute("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))")
                    throw error
                }
            }
        } catch let error as MigrationError {
            throw error
        } catch let error as PostgresError {
            throw .database(error)
        } catch {
            throw .database(.connectionFailed(message: "\(error)"))
        }
    }

    /// Files not yet applied, in order (after checking applied ones are unchanged).
    public func pending() async throws(MigrationError) -> [Migration] {
        try await status().pending
    }

    /// Applied and pending migrations; throws if an applied file changed or disappeared.
    public func status() async throws(MigrationError) -> MigrationStatus {
        let migrations = try loadMigrations()
        let applied: [AppliedMigration]
        do {
            let exists = try await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
            if try exists.first?.decode("present", as: Bool.self) == true {
                applied = try Self.appliedMigrations(from: try await client.query(Self.selectApplied))
            } else {
                applied = []
            }
        } catch {
            throw .database(error)
        }
        return MigrationStatus(applied: applied, pending: try Self.pending(migrations, applied: applied))
    }

    // MARK: - Implementation

    private static let selectApplied: PostgresQuery = "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"

    private func apply(_ migrations: [Migration], on connection: PostgresConnectionHandle) async throws -> [Migration] {
        try await connection.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let applied = try Self.appliedMigrations(from: try await connection.query(Self.selectApplied))
        let pending = try Self.pending(migrations, applied: applied)
        for migration in pending {
            logger.info("applying migration", ["migration.file": migration.fileName])
            do {
                try await connection.withTransaction { transaction in
                    try await transaction.executeScript(unsafeSQL: migration.sql)
                    try await transaction.execute("""
                        INSERT INTO schema_migrations (version, name, checksum, applied_at)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum), now())
                        """)
                }
            } catch let error as PostgresError {
                throw MigrationError.failed(file: migration.fileName, error: error)
            }
        }
        if !pending.isEmpty {
            logger.info("migrations applied", ["migration.count": String(pending.count)])
        }
        return pending
    }

    private static func appliedMigrations(from rows: [PostgresRow]) throws(PostgresError) -> [AppliedMigration] {
        var applied: [AppliedMigration] = []
        for row in rows {
            applied.append(AppliedMigration(
                version: try row.decode("version"), name: try row.decode("name"),
                checksum: try row.decode("checksum"), appliedAt: try row.decode("applied_at")
            ))
        }
        return applied
    }

    private static func pending(_ migrations: [Migration], applied: [AppliedMigration]) throws(MigrationError) -> [Migration] {
        let files = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for record in applied {
            guard let file = files[record.version] else {
                throw .missingFile(version: record.version, name: record.name)
            }
            guard file.checksum == record.checksum else {
                throw .checksumMismatch(file: file.fileName, recorded: record.checksum, actual: file.checksum)
            }
        }
        let done = Set(applied.map(\.version))
        return migrations.filter { !done.contains($0.version) }
    }
}

/// SHA-256 (FIPS 180-4) in plain Swift, for migration checksums and short stable names.
enum SHA256 {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    static func hash(_ data: Data) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        var message = [UInt8](data)
        let bitLength = UInt64(message.count) * 8
        message.append(0x80)
        while message.count % 64 != 56 { message.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { message.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 64)
        for chunk in stride(from: 0, to: message.count, by: 64) {
            for i in 0..<16 {
                let b = chunk + i * 4
                w[i] = UInt32(message[b]) << 24 | UInt32(message[b + 1]) << 16 | UInt32(message[b + 2]) << 8 | UInt32(message[b + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let ch = (e & f) ^ (~e & g)
                let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let maj = (a & b) ^ (a & c) ^ (b & c)
                let t2 = s0 &+ maj
                (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ t1, c, b, a, t1 &+ t2)
            }
            h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d
            h[4] = h[4] &+ e; h[5] = h[5] &+ f; h[6] = h[6] &+ g; h[7] = h[7] &+ hh
        }
        return h.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * UInt32($0))) } }
    }

    static func hex(of data: Data) -> String {
        hash(data).map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }.joined()
    }

    private static func rotr(_ value: UInt32, _ count: UInt32) -> UInt32 {
        (value >> count) | (value << (32 - count))
    }
}
