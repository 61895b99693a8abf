import Foundation

/// A SQL statement whose interpolated values travel as bound parameters, never as SQL text.
///
/// ```swift
/// let rows = try await client.query("SELECT id FROM sessions WHERE repo = \(repo) AND number = \(number)")
/// ```
/// becomes `SELECT id FROM sessions WHERE repo = $1 AND number = $2` with two binds. Printing a query
/// shows the SQL and how many binds it has, never their values.
public struct PostgresQuery: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringInterpolation {
    /// The statement text with `$1`, `$2`, … placeholders.
    public let sql: String
    let binds: [PostgresBind]

    /// Number of bound parameters.
    public var bindCount: Int { binds.count }

    /// A statement from raw SQL text and explicit binds for its `$n` placeholders.
    ///
    /// Only for SQL that is not built from outside input: interpolation is the safe way to add values.
    public init(unsafeSQL: String, binds: [any PostgresEncodable] = []) {
        self.sql = unsafeSQL
        self.binds = binds.map { PostgresBind($0) }
    }

    public init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    public var description: String {
        binds.isEmpty ? sql : "\(sql) [\(binds.count) bind\(binds.count == 1 ? "" : "s") redacted]"
    }

    /// Builds the SQL text and bind list while a query literal is read.
    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [PostgresBind]

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        /// Adds `value` as the next bound parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            binds.append(PostgresBind(value))
            sql += "$\(binds.count)"
        }

        /// Adds an optional value as the next bound parameter; nil binds SQL NULL.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            binds.append(PostgresBind(value))
            sql += "$\(binds.count)"
        }

        /// Adds a quoted SQL identifier (table, database, channel name): `"my ""odd"" name"`.
        public mutating func appendInterpolation(identifier: String) {
            sql += quoteIdentifier(identifier)
        }

        /// Adds raw SQL text. Never pass outside input here.
        public mutating func appendInterpolation(unsafeRaw: String) {
            sql += unsafeRaw
        }
    }
}

/// Quotes a SQL identifier by doubling embedded quotes, as PostgreSQL's `quote_ident` does.
func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// One bound parameter, in PostgreSQL's text input format or, where cheaper, its binary format.
struct PostgresBind: Sendable, Hashable {
    /// Text form, nil for SQL NULL or when `binary` is set.
    var text: String?
    /// Binary form (bytea), sent instead of text.
    var binary: Data?
    /// Declared type, 0 to let the server infer it from context.
    var typeOID: UInt32

    init(_ value: some PostgresEncodable) {
        self.binary = value.postgresBinary
        self.text = binary == nil ? value.postgresText : nil
        self.typeOID = type(of: value).postgresTypeOID
    }

    init(_ value: any PostgresEncodable) {
        self.binary = value.postgresBinary
        self.text = binary == nil ? value.postgresText : nil
        self.typeOID = type(of: value).postgresTypeOID
    }
}
