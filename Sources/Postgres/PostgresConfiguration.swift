/// Where and how to connect to a PostgreSQL server.
///
/// Build one directly or parse a `postgres://` URL with ``init(url:)``. The description redacts the
/// password, so a configuration can be logged.
public struct PostgresConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// TLS policy, with libpq's meanings.
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    /// Host name or IP address, or a unix-socket directory when it starts with `/`.
    public var host: String
    public var port: Int
    /// Role to log in as; nil lets libpq use the operating-system user name.
    public var user: String?
    public var password: String?
    /// Database name; nil lets libpq use the user name.
    public var database: String?
    public var sslMode: SSLMode
    /// Shown in `pg_stat_activity.application_name`.
    public var applicationName: String?
    /// Seconds to wait for a connection before giving up.
    public var connectTimeout: Int
    /// Longest a statement may run (server side, `statement_timeout`) and a sent request may stay
    /// unacknowledged on a TCP connection (client side, `tcp_user_timeout`); nil leaves both unlimited.
    public var statementTimeoutMilliseconds: Int?

    public init(
        host: String = "localhost",
        port: Int = 5432,
        user: String? = nil,
        password: String? = nil,
        database: String? = nil,
        sslMode: SSLMode = .prefer,
        applicationName: String? = "previewd",
        connectTimeout: Int = 10
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
    }

    /// True when `host` names a unix-socket directory rather than a network host.
    public var isUnixSocket: Bool { host.hasPrefix("/") }

    /// A copy that connects to another database on the same server.
    public func withDatabase(_ name: String) -> PostgresConfiguration {
        var copy = self
        copy.database = name
        return copy
    }

    /// Parses `postgres://user:password@host:port/database?sslmode=require`.
    ///
    /// Also accepts `postgresql://`, percent-encoded user, password and database, a unix-socket
    /// directory as a percent-encoded host (`%2Fvar%2Frun%2Fpostgresql`) or as `?host=/var/run/postgresql`,
    /// and the query parameters `host`, `port`, `user`, `password`, `dbname`, `sslmode`,
    /// `application_name` and `connect_timeout`. The port defaults to 5432.
    public init(url: String) throws(PostgresError) {
        let rest: Substring
        if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else {
            throw .invalidURL(reason: "it must start with postgres:// or postgresql://")
        }
        if rest.contains("#") {
            throw .invalidURL(reason: "a '#' must be percent-encoded as %23")
        }
        let beforeQuery: Substring
        let query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            beforeQuery = rest[..<mark]
            query = rest[rest.index(after: mark)...]
        } else {
            beforeQuery = rest
            query = nil
        }
        let authority: Substring
        let path: Substring?
        if let slash = beforeQuery.firstIndex(of: "/") {
            authority = beforeQuery[..<slash]
            path = beforeQuery[beforeQuery.index(after: slash)...]
        } else {
            authority = beforeQuery
            path = nil
        }

        self.init()
        self.applicationName = "previewd"

        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = try Self.decode(userInfo[..<colon], part: "user name")
                password = try Self.decode(userInfo[userInfo.index(after: colon)...], part: "password")
            } else {
                user = try Self.decode(userInfo, part: "user name")
            }
            if user?.isEmpty == true { user = nil }
        }

        var hostText: Substring = hostPort
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw .invalidURL(reason: "an IPv6 host is missing its closing ']'")
            }
            hostText = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidURL(reason: "unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            hostText = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        }
        let decodedHost = try Self.decode(hostText, part: "host")
        host = decodedHost.isEmpty ? "localhost" : decodedHost
        if let portText { port = try Self.parsePort(portText) }

        if let path {
            let name = try Self.decode(path, part: "database name")
            if name.contains("/") { throw .invalidURL(reason: "the database name must not contain '/'") }
            database = name.isEmpty ? nil : name
        }

        if let query, !query.isEmpty {
            for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
                let key: String
                let value: String
                if let equals = pair.firstIndex(of: "=") {
                    key = try Self.decode(pair[..<equals], part: "query parameter name")
                    value = try Self.decode(pair[pair.index(after: equals)...], part: "query parameter \(key)")
                } else {
                    throw .invalidURL(reason: "query parameter \"\(pair)\" has no value")
                }
                switch key {
                case "host": host = value
                case "port": port = try Self.parsePort(Substring(value))
                case "user": user = value
                case "password": password = value
                case "dbname": database = value
                case "application_name": applicationName = value
                case "sslmode":
                    guard let mode = SSLMode(rawValue: value) else {
                        let allowed = SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                        throw .invalidURL(reason: "sslmode \"\(value)\" is not one of \(allowed)")
                    }
                    sslMode = mode
                case "connect_timeout":
                    guard let seconds = Int(value), seconds >= 0 else {
                        throw .invalidURL(reason: "connect_timeout must be a whole number of seconds")
                    }
                    connectTimeout = seconds
                default:
                    throw .invalidURL(reason: "query parameter \"\(key)\" is not supported")
                }
            }
        }
    }

    private static func parsePort(_ text: Substring) throws(PostgresError) -> Int {
        guard let value = Int(text), (1...65535).contains(value) else {
            throw .invalidURL(reason: "port \"\(text)\" is not a number between 1 and 65535")
        }
        return value
    }

    /// Percent-decodes one URL component, rejecting malformed escapes and invalid UTF-8.
    private static func decode(_ text: Substring, part: String) throws(PostgresError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw .invalidURL(reason: "the \(part) has a malformed percent escape")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw .invalidURL(reason: "the \(part) is not valid UTF-8 after percent-decoding")
        }
        return decoded
    }

    /// The URL form with the password replaced by `***`.
    public var description: String {
        var text = "postgres://"
        if let user { text += user }
        if password != nil { text += ":***" }
        if user != nil || password != nil { text += "@" }
        if isUnixSocket {
            text += "/\(database ?? "")?host=\(host)&port=\(port)"
        } else {
            text += host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            text += "/\(database ?? "")?"
        }
        if !text.hasSuffix("?") { text += "&" }
        text += "sslmode=\(sslMode.rawValue)"
        return text
    }

    /// libpq keyword/value pairs for `PQconnectdbParams`.
    var connectionParameters: [(String, String)] {
        var pairs: [(String, String)] = [
            ("host", host),
            ("port", String(port)),
            ("sslmode", sslMode.rawValue),
            ("connect_timeout", String(connectTimeout)),
            ("client_encoding", "UTF8"),
            // Row decoding relies on ISO timestamps in UTC.
            ("options", "-c DateStyle=ISO,YMD -c TimeZone=UTC"),
        ]
        if let user { pairs.append(("user", user)) }
        if let password { pairs.append(("password", password)) }
        if let database { pairs.append(("dbname", database)) }
        if let applicationName { pairs.append(("application_name", applicationName)) }
        if let timeout = statementTimeoutMilliseconds {
            pairs[pairs.firstIndex { $0.0 == "options" }!].1 += " -c statement_timeout=\(timeout)"
            if !isUnixSocket { pairs.append(("tcp_user_timeout", String(timeout))) }
        }
        return pairs
    }
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
}
