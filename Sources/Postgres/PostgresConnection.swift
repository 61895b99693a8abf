internal import CLibPQ
internal import CShims
import Foundation

/// One libpq connection. Every call blocks the calling thread.
///
/// Not Sendable: a connection belongs to exactly one thread at a time. ``PostgresClient`` gives each
/// pooled connection a dedicated thread; use this type directly only from a thread you own
/// (never from Swift's cooperative pool).
public final class PostgresConnection {
    private let handle: OpaquePointer
    private var statements = PreparedStatements()
    /// What this connection was opened with.
    public let configuration: PostgresConfiguration

    /// Opens a connection, blocking until it is ready or has failed.
    public init(configuration: PostgresConfiguration) throws(PostgresError) {
        self.configuration = configuration
        let pairs = configuration.connectionParameters
        let keywords: [UnsafePointer<CChar>?] = pairs.map { UnsafePointer(strdup($0.0)) } + [nil]
        let values: [UnsafePointer<CChar>?] = pairs.map { UnsafePointer(strdup($0.1)) } + [nil]
        defer {
            for pointer in keywords + values { free(UnsafeMutablePointer(mutating: pointer)) }
        }
        // expand_dbname = 0: a database name is only ever a name, never a conninfo string.
        guard let connection = PQconnectdbParams(keywords, values, 0) else {
            throw .connectionFailed(message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.errorMessage(connection)
            PQfinish(connection)
            throw .connectionFailed(message: message)
        }
        // libpq prints notices and errors that arrive while idle ("terminating connection due to
        // administrator command") straight to stderr, which would break previewd's JSON log lines.
        PQsetNoticeProcessor(connection, discardPostgresNotice, nil)
        self.handle = connection
    }

    deinit {
        PQfinish(handle)
    }

    /// False once the server or network dropped the connection; such a connection must be replaced.
    public var isUsable: Bool { PQstatus(handle) == CONNECTION_OK }

    /// True while a transaction is open (or failed and awaiting ROLLBACK).
    public var isInTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    /// The server process id serving this connection (for `pg_terminate_backend`, `pg_stat_activity`).
    public var backendPID: Int { Int(PQbackendPID(handle)) }

    /// Runs a statement and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) throws(PostgresError) -> [PostgresRow] {
        try run(query).rows
    }

    /// Runs a statement and returns how many rows it inserted, updated or deleted.
    @discardableResult
    public func execute(_ query: PostgresQuery) throws(PostgresError) -> Int {
        try run(query).affectedRows
    }

    /// Runs several `;`-separated statements without parameters, as migration files need.
    ///
    /// Only for trusted SQL text (files shipped with previewd), never for outside input.
    public func executeScript(unsafeSQL script: String) throws(PostgresError) {
        let result = PQexec(handle, script)
        let checked = try check(result)
        PQclear(checked)
    }

    func run(_ query: PostgresQuery, retryingStalePlan: Bool = true) throws(PostgresError) -> (rows: [PostgresRow], affectedRows: Int) {
        let count = query.binds.count
        let types: [Oid] = query.binds.map { Oid($0.typeOID) }
        var values: [UnsafePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        values.reserveCapacity(count)
        lengths.reserveCapacity(count)
        formats.reserveCapacity(count)
        for bind in query.binds {
            if let binary = bind.binary {
                let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(binary.count, 1))
                binary.withUnsafeBytes { raw in
                    if let base = raw.baseAddress { copy.update(from: base.assumingMemoryBound(to: CChar.self), count: raw.count) }
                }
                values.append(UnsafePointer(copy))
                lengths.append(Int32(clamping: binary.count))
                formats.append(1)
            } else {
                values.append(bind.text.map { UnsafePointer(strdup($0)) })
                lengths.append(0)
                formats.append(0)
            }
        }
        defer {
            for pointer in values { free(UnsafeMutablePointer(mutating: pointer)) }
        }
        let statement = try preparedStatement(for: query.sql, types: types)
        let result = PQexecPrepared(handle, statement, Int32(count), values, lengths, formats, 0)
        let checked: OpaquePointer
        do {
            checked = try check(result)
        } catch {
            // A migration changed a table the prepared statement reads ("cached plan must not change
            // result type"), or the statement is gone: prepare it afresh next time.
            if case .server(let details) = error, details.sqlState == "0A000" || details.sqlState == "26000" {
                statements.forget(query.sql, types: types)
                // Nothing ran; outside a transaction it is safe to run it again at once.
                if retryingStalePlan && !isInTransaction {
                    return try run(query, retryingStalePlan: false)
                }
            }
            throw error
        }
        defer { PQclear(checked) }
        return (Self.rows(of: checked), Int(String(cString: PQcmdTuples(checked))) ?? 0)
    }

    /// The name of this connection's prepared statement for `sql`, preparing it on first use, so the
    /// server parses and plans a statement the connection runs again and again only once.
    private func preparedStatement(for sql: String, types: [Oid]) throws(PostgresError) -> String {
        if let name = statements.name(for: sql, types: types) { return name }
        if statements.isFull {
            // Rare (previewd runs a fixed set of statements); forget them all rather than track use.
            PQclear(try check(PQexec(handle, "DEALLOCATE ALL")))
            statements.removeAll()
        }
        let name = statements.nextName()
        PQclear(try check(PQprepare(handle, name, sql, Int32(types.count), types)))
        statements.remember(sql, types: types, name: name)
        return name
    }

    /// The one place that turns a libpq result into success or a typed error.
    private func check(_ result: OpaquePointer?) throws(PostgresError) -> OpaquePointer {
        guard let result else {
            throw .connectionFailed(message: Self.errorMessage(handle))
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return result
        default:
            defer { PQclear(result) }
            func field(_ code: Int32) -> String? {
                guard let value = PQresultErrorField(result, code) else { return nil }
                return String(cString: value)
            }
            let message = field(CLibPQ_PG_DIAG_MESSAGE_PRIMARY) ?? Self.trimmed(String(cString: PQresultErrorMessage(result)))
            let sqlState = field(CLibPQ_PG_DIAG_SQLSTATE)
            if PQstatus(handle) != CONNECTION_OK {
                let reason = message.isEmpty ? Self.errorMessage(handle) : message
                throw .connectionFailed(message: sqlState.map { "\(reason) (SQLSTATE \($0))" } ?? reason)
            }
            throw .server(.init(
                sqlState: sqlState ?? "XX000",
                message: message,
                detail: field(CLibPQ_PG_DIAG_MESSAGE_DETAIL),
                constraint: field(CLibPQ_PG_DIAG_CONSTRAINT_NAME)
            ))
        }
    }

    private static func rows(of result: OpaquePointer) -> [PostgresRow] {
        let fieldCount = PQnfields(result)
        let rowCount = PQntuples(result)
        guard fieldCount > 0 else { return [] }
        var names: [String] = []
        var types: [UInt32] = []
        for column in 0..<fieldCount {
            names.append(String(cString: PQfname(result, column)))
            types.append(UInt32(PQftype(result, column)))
        }
        let columns = PostgresColumns(names: names, typeOIDs: types)
        var rows: [PostgresRow] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var cells: [String?] = []
            cells.reserveCapacity(Int(fieldCount))
            for column in 0..<fieldCount {
                if PQgetisnull(result, row, column) == 1 {
                    cells.append(nil)
                } else {
                    cells.append(String(cString: PQgetvalue(result, row, column)))
                }
            }
            rows.append(PostgresRow(columns: columns, cells: cells))
        }
        return rows
    }

    /// Checks, without blocking, whether an idle connection was closed by the server meanwhile
    /// (restart, `pg_terminate_backend`): the server's goodbye makes the socket readable.
    func isStillAliveWhileIdle() -> Bool {
        guard PQstatus(handle) == CONNECTION_OK else { return false }
        let socket = PQsocket(handle)
        guard socket >= 0 else { return false }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return true }
        // A pooled connection never listens, so anything arriving while idle is the server saying
        // goodbye ("terminating connection"); its closing EOF may not have been read yet, so the
        // connection is replaced rather than trusted for one more failed query.
        _ = PQconsumeInput(handle)
        return false
    }

    /// Waits up to `timeoutMilliseconds` for notifications on a connection that ran `LISTEN`.
    ///
    /// Returns what arrived (possibly nothing); throws `connectionFailed` once the connection is lost.
    func waitForNotifications(timeoutMilliseconds: Int32) throws(PostgresError) -> [PostgresNotification] {
        var notifications = drainNotifications()
        guard notifications.isEmpty else { return notifications }
        let socket = PQsocket(handle)
        guard socket >= 0 else { throw .connectionFailed(message: "the connection has no socket") }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready < 0 {
            if errno == EINTR { return [] }
            throw .connectionFailed(message: "poll failed: \(String(cString: strerror(errno)))")
        }
        guard ready > 0 else { return [] }
        guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else {
            throw .connectionFailed(message: Self.errorMessage(handle))
        }
        notifications = drainNotifications()
        return notifications
    }

    private func drainNotifications() -> [PostgresNotification] {
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            notifications.append(PostgresNotification(
                channel: String(cString: notify.pointee.relname),
                payload: String(cString: notify.pointee.extra)
            ))
            PQfreemem(notify)
        }
        return notifications
    }

    private static func errorMessage(_ connection: OpaquePointer) -> String {
        guard let message = PQerrorMessage(connection) else { return "unknown libpq error" }
        let text = trimmed(String(cString: message))
        return text.isEmpty ? "unknown libpq error" : text
    }

    private static func trimmed(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@available(*, unavailable, message: "a PostgresConnection belongs to one thread; use PostgresClient to share")
extension PostgresConnection: Sendable {}

/// A message delivered by `NOTIFY` / `pg_notify` on a channel this process listens to.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String

    public init(channel: String, payload: String) {
        self.channel = channel
        self.payload = payload
    }
}

/// The statements a connection has prepared, by SQL text and parameter types.
struct PreparedStatements {
    /// Most statements kept prepared on one connection.
    static let capacity = 256
    private struct Key: Hashable {
        var sql: String
        var types: [Oid]
    }
    private var names: [Key: String] = [:]
    private var counter = 0

    var isFull: Bool { names.count >= Self.capacity }

    func name(for sql: String, types: [Oid]) -> String? { names[Key(sql: sql, types: types)] }

    mutating func nextName() -> String {
        counter += 1
        return "previewd_\(counter)"
    }

    mutating func remember(_ sql: String, types: [Oid], name: String) { names[Key(sql: sql, types: types)] = name }

    mutating func forget(_ sql: String, types: [Oid]) { names[Key(sql: sql, types: types)] = nil }

    mutating func removeAll() { names.removeAll() }
}

/// Drops server notices: errors that matter surface through the failing call instead.
nonisolated private func discardPostgresNotice(_ context: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {}
