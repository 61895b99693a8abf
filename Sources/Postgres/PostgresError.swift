/// Everything that can go wrong talking to PostgreSQL.
///
/// Messages never contain a password or a bound value: they are safe to log and to show an operator.
public enum PostgresError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A connection URL could not be parsed; `reason` says what is wrong with it.
    case invalidURL(reason: String)
    /// The server could not be reached, refused the login, or the connection broke mid-query.
    case connectionFailed(message: String)
    /// The server rejected a statement.
    case server(ServerError)
    /// A column's value could not be decoded into the wanted Swift type.
    case decoding(column: String, index: Int, wantedType: String, actualType: String)
    /// A non-optional type was asked for, but the column was SQL NULL.
    case unexpectedNull(column: String, index: Int)
    /// A column was asked for that the result does not have.
    case missingColumn(String)
    /// The pool was closed; no more queries can run through it.
    case poolClosed
    /// Every pooled connection stayed busy for longer than the acquire timeout.
    case poolTimeout(seconds: Double)

    /// The details PostgreSQL sends with an error response.
    public struct ServerError: Sendable, Equatable, CustomStringConvertible {
        /// Five-character SQLSTATE code, e.g. `23505` for a unique violation.
        public var sqlState: String
        /// The primary, human-readable message.
        public var message: String
        /// Optional secondary detail (may quote the conflicting key, never a bound parameter list).
        public var detail: String?
        /// The violated constraint's name, when the error concerns a constraint.
        public var constraint: String?

        public init(sqlState: String, message: String, detail: String? = nil, constraint: String? = nil) {
            self.sqlState = sqlState
            self.message = message
            self.detail = detail
            self.constraint = constraint
        }

        public var description: String {
            var text = "\(message) (SQLSTATE \(sqlState))"
            if let constraint { text += " constraint \(constraint)" }
            if let detail { text += ": \(detail)" }
            return text
        }
    }

    /// The SQLSTATE of a server error, nil for every other kind.
    public var sqlState: String? {
        if case .server(let error) = self { return error.sqlState }
        return nil
    }

    /// True when a unique constraint rejected the row (SQLSTATE 23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// True when the database is unavailable rather than the statement wrong, so an HTTP caller
    /// should answer 503 and retry later.
    ///
    /// Covers broken or refused connections, server shutdown and connection-class SQLSTATEs
    /// (`08xxx`, `57P01`–`57P03`), a closed pool and an exhausted pool.
    public var isConnectionError: Bool {
        switch self {
        case .connectionFailed, .poolClosed, .poolTimeout:
            return true
        case .server(let error):
            return error.sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(error.sqlState)
        case .invalidURL, .decoding, .unexpectedNull, .missingColumn:
            return false
        }
    }

    public var description: String {
        switch self {
        case .invalidURL(let reason):
            return "invalid PostgreSQL URL: \(reason)"
        case .connectionFailed(let message):
            return "PostgreSQL connection failed: \(message)"
        case .server(let error):
            return "PostgreSQL error: \(error)"
        case .decoding(let column, let index, let wanted, let actual):
            return "cannot decode column \"\(column)\" (index \(index)) of PostgreSQL type \(actual) as \(wanted)"
        case .unexpectedNull(let column, let index):
            return "column \"\(column)\" (index \(index)) is NULL; decode it as an Optional"
        case .missingColumn(let name):
            return "the result has no column named \"\(name)\""
        case .poolClosed:
            return "the PostgreSQL connection pool is closed"
        case .poolTimeout(let seconds):
            return "no PostgreSQL connection became free within \(seconds) seconds; raise maxConnections or find the slow queries"
        }
    }
}
