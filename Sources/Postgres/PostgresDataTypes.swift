import Foundation

/// Type OIDs of the built-in PostgreSQL types previewd binds and decodes.
enum PostgresTypeOID {
    static let unknown: UInt32 = 0
    static let bool: UInt32 = 16
    static let bytea: UInt32 = 17
    static let char: UInt32 = 18
    static let name: UInt32 = 19
    static let int8: UInt32 = 20
    static let int2: UInt32 = 21
    static let int4: UInt32 = 23
    static let text: UInt32 = 25
    static let oid: UInt32 = 26
    static let json: UInt32 = 114
    static let float4: UInt32 = 700
    static let float8: UInt32 = 701
    static let textArray: UInt32 = 1009
    static let int8Array: UInt32 = 1016
    static let bpchar: UInt32 = 1042
    static let varchar: UInt32 = 1043
    static let date: UInt32 = 1082
    static let timestamp: UInt32 = 1114
    static let timestamptz: UInt32 = 1184
    static let numeric: UInt32 = 1700
    static let uuid: UInt32 = 2950
    static let jsonb: UInt32 = 3802

    static let names: [UInt32: String] = [
        bool: "boolean", bytea: "bytea", char: "\"char\"", name: "name", int8: "bigint", int2: "smallint",
        int4: "integer", text: "text", oid: "oid", json: "json", float4: "real", float8: "double precision",
        textArray: "text[]", int8Array: "bigint[]", bpchar: "character", varchar: "character varying",
        date: "date", timestamp: "timestamp", timestamptz: "timestamptz", numeric: "numeric", uuid: "uuid",
        jsonb: "jsonb", 705: "unknown", 1007: "integer[]", 2278: "void",
    ]

    static func name(of oid: UInt32) -> String { names[oid] ?? "type with OID \(oid)" }

    static let integers: Set<UInt32> = [int2, int4, int8, oid]
}

// MARK: - Encoding

/// A Swift value that can be bound as a query parameter.
///
/// Values travel in PostgreSQL's text input format with a declared type, so the server parses them;
/// they are never spliced into SQL. Types whose binary form is their bytes (bytea) send that instead.
public protocol PostgresEncodable: Sendable {
    /// The value in PostgreSQL's text input format, nil for SQL NULL.
    var postgresText: String? { get }
    /// The type OID declared for the parameter; 0 lets the server infer it from the statement.
    static var postgresTypeOID: UInt32 { get }
    /// The value in PostgreSQL's binary format when that is cheaper to send than text, else nil.
    var postgresBinary: Data? { get }
}

extension PostgresEncodable {
    public var postgresBinary: Data? { nil }
}

extension String: PostgresEncodable {
    public var postgresText: String? { self }
    /// Unknown, so a string can be compared with text, uuid, enum or timestamp columns alike.
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.unknown }
}

extension Int: PostgresEncodable {
    public var postgresText: String? { String(self) }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.int8 }
}

extension Int64: PostgresEncodable {
    public var postgresText: String? { String(self) }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.int8 }
}

extension Int32: PostgresEncodable {
    public var postgresText: String? { String(self) }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.int4 }
}

extension Bool: PostgresEncodable {
    public var postgresText: String? { self ? "t" : "f" }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.bool }
}

extension Double: PostgresEncodable {
    public var postgresText: String? {
        if isNaN { return "NaN" }
        if isInfinite { return self > 0 ? "Infinity" : "-Infinity" }
        return "\(self)"
    }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.float8 }
}

extension Date: PostgresEncodable {
    /// ISO 8601 in UTC with microseconds, the precision of `timestamptz`.
    public var postgresText: String? { PostgresTimestamp.format(self) }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.timestamptz }
}

extension UUID: PostgresEncodable {
    public var postgresText: String? { uuidString.lowercased() }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.uuid }
}

extension Data: PostgresEncodable {
    /// bytea hex input, `\x0a1b…`.
    public var postgresText: String? {
        withUnsafeBytes { raw in PostgresHex.encode(raw.bindMemory(to: UInt8.self)) }
    }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.bytea }
    /// bytea's binary format is the bytes themselves: no hex encoding here nor decoding in the server.
    public var postgresBinary: Data? { self }
}

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    /// An array literal such as `{"a","b"}`, or bytea hex for `[UInt8]`.
    public var postgresText: String? { Element.postgresArrayText(self) }
    public static var postgresTypeOID: UInt32 { Element.postgresArrayTypeOID }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self?.postgresText }
    public static var postgresTypeOID: UInt32 { Wrapped.postgresTypeOID }
    public var postgresBinary: Data? { self?.postgresBinary }
}

/// An element type for array parameters: `[String]` binds as `text[]`, `[Int]` as `bigint[]`,
/// `[UInt8]` as `bytea`.
public protocol PostgresArrayElement: Sendable {
    /// The text input form of an array of these elements.
    static func postgresArrayText(_ elements: [Self]) -> String
    /// OID of the array's type.
    static var postgresArrayTypeOID: UInt32 { get }
}

extension String: PostgresArrayElement {
    public static func postgresArrayText(_ elements: [String]) -> String {
        let quoted = elements.map { element in
            var escaped = "\""
            for character in element {
                if character == "\"" || character == "\\" { escaped.append("\\") }
                escaped.append(character)
            }
            return escaped + "\""
        }
        return "{" + quoted.joined(separator: ",") + "}"
    }
    public static var postgresArrayTypeOID: UInt32 { PostgresTypeOID.textArray }
}

extension Int: PostgresArrayElement {
    public static func postgresArrayText(_ elements: [Int]) -> String {
        "{" + elements.map(String.init).joined(separator: ",") + "}"
    }
    public static var postgresArrayTypeOID: UInt32 { PostgresTypeOID.int8Array }
}

extension UInt8: PostgresArrayElement {
    public static func postgresArrayText(_ elements: [UInt8]) -> String { PostgresHex.encode(elements) }
    public static var postgresArrayTypeOID: UInt32 { PostgresTypeOID.bytea }
}

/// Raw JSON text bound as `jsonb` and decoded from `json`/`jsonb` columns.
public struct PostgresJSON: Sendable, Hashable, PostgresEncodable, CustomStringConvertible {
    /// UTF-8 JSON bytes.
    public var data: Data

    /// Wraps JSON bytes as they are; PostgreSQL validates them on insert.
    public init(data: Data) { self.data = data }
    /// Wraps JSON text as it is.
    public init(string: String) { self.data = Data(string.utf8) }
    /// Encodes `value` with `JSONEncoder` (keys sorted so equal values give equal text).
    public init(encoding value: some Encodable) throws(EncodingError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            self.data = try encoder.encode(value)
        } catch let error as EncodingError {
            throw error
        } catch {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(error)"))
        }
    }

    /// The JSON as text.
    public var string: String { String(decoding: data, as: UTF8.self) }

    /// Decodes the JSON into `type` with `JSONDecoder`.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(type, from: data)
    }

    public var postgresText: String? { string }
    public static var postgresTypeOID: UInt32 { PostgresTypeOID.jsonb }
    public var description: String { string }
}

// MARK: - Decoding

/// A Swift type that can be read from a column in PostgreSQL's text output format.
public protocol PostgresDecodable: Sendable {
    /// Parses the text output of a column of type `typeOID`; nil when the type or text does not fit.
    init?(postgresText: String, typeOID: UInt32)
    /// The value that stands for SQL NULL; nil when this type cannot represent NULL.
    static var postgresNull: Self? { get }
}

extension PostgresDecodable {
    public static var postgresNull: Self? { nil }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        guard let value = Wrapped(postgresText: postgresText, typeOID: typeOID) else { return nil }
        self = .some(value)
    }
    public static var postgresNull: Self? { .some(.none) }
}

extension String: PostgresDecodable {
    /// Any column's text output, except bytea (decode that as `Data`).
    public init?(postgresText: String, typeOID: UInt32) {
        guard typeOID != PostgresTypeOID.bytea else { return nil }
        self = postgresText
    }
}

extension Int: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        guard PostgresTypeOID.integers.contains(typeOID), let value = Int(postgresText) else { return nil }
        self = value
    }
}

extension Int64: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        guard PostgresTypeOID.integers.contains(typeOID), let value = Int64(postgresText) else { return nil }
        self = value
    }
}

extension Int32: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        guard PostgresTypeOID.integers.contains(typeOID), let value = Int32(postgresText) else { return nil }
        self = value
    }
}

extension Bool: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        guard typeOID == PostgresTypeOID.bool else { return nil }
        switch postgresText {
        case "t": self = true
        case "f": self = false
        default: return nil
        }
    }
}

extension Double: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        let numeric: Set<UInt32> = [PostgresTypeOID.float4, PostgresTypeOID.float8, PostgresTypeOID.numeric]
        guard numeric.contains(typeOID) || PostgresTypeOID.integers.contains(typeOID) else { return nil }
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(postgresText) else { return nil }
            self = value
        }
    }
}

extension Date: PostgresDecodable {
    /// From `timestamptz` (and `timestamp`, read as UTC) in ISO output style.
    public init?(postgresText: String, typeOID: UInt32) {
        guard typeOID == PostgresTypeOID.timestamptz || typeOID == PostgresTypeOID.timestamp,
              let date = PostgresTimestamp.parse(postgresText) else { return nil }
        self = date
    }
}

extension UUID: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        guard typeOID == PostgresTypeOID.uuid || typeOID == PostgresTypeOID.text,
              let value = UUID(uuidString: postgresText) else { return nil }
        self = value
    }
}

extension Data: PostgresDecodable {
    /// From bytea hex output, `\x0a1b…`.
    public init?(postgresText: String, typeOID: UInt32) {
        guard typeOID == PostgresTypeOID.bytea, let bytes = PostgresHex.decode(postgresText) else { return nil }
        self = Data(bytes)
    }
}

extension PostgresJSON: PostgresDecodable {
    public init?(postgresText: String, typeOID: UInt32) {
        let textual: Set<UInt32> = [PostgresTypeOID.json, PostgresTypeOID.jsonb, PostgresTypeOID.text, PostgresTypeOID.varchar]
        guard textual.contains(typeOID) else { return nil }
        self.init(string: postgresText)
    }
}

// MARK: - Text formats

/// bytea hex format.
enum PostgresHex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        // Webhook payloads are bound as bytea on every delivery: write straight into the string's storage.
        if let encoded = bytes.withContiguousStorageIfAvailable(encode(buffer:)) { return encoded }
        return Array(bytes).withUnsafeBufferPointer(encode(buffer:))
    }

    private static func encode(buffer: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: 2 + buffer.count * 2) { output in
            output[0] = UInt8(ascii: "\\")
            output[1] = UInt8(ascii: "x")
            var index = 2
            for byte in buffer {
                output[index] = digits[Int(byte >> 4)]
                output[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            return nil
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// ISO timestamps as PostgreSQL writes them with `DateStyle=ISO` and reads them back.
///
/// Done by hand with civil-calendar arithmetic: exact to the microsecond and free of formatter state.
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let totalMicros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        var days = totalMicros / 86_400_000_000
        var micros = totalMicros % 86_400_000_000
        if micros < 0 {
            micros += 86_400_000_000
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        let seconds = micros / 1_000_000
        let fraction = micros % 1_000_000
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2)).\(pad(fraction, 6))+00"
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff][+HH[:MM[:SS]]]`; without a zone the time is taken as UTC.
    static func parse(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ count: Int) -> Int64? {
            guard index + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<index + count] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
        func expect(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue else { return false }
            index += 1
            return true
        }
        var yearDigits = 0
        while index + yearDigits < bytes.count, bytes[index + yearDigits] != UInt8(ascii: "-") { yearDigits += 1 }
        guard yearDigits >= 4, let year = number(yearDigits), expect("-"), let month = number(2), expect("-"),
              let day = number(2), expect(" ") || expect("T"), let hour = number(2), expect(":"),
              let minute = number(2), expect(":"), let second = number(2) else { return nil }
        var micros: Int64 = 0
        if expect(".") {
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                if digits < 6 { micros = micros * 10 + Int64(bytes[index] - UInt8(ascii: "0")) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in min(digits, 6)..<6 { micros *= 10 }
        }
        var offsetSeconds: Int64 = 0
        if index < bytes.count {
            let sign: Int64
            if expect("+") { sign = 1 } else if expect("-") { sign = -1 } else if expect("Z") { sign = 0 } else { return nil }
            if sign != 0 {
                guard let hours = number(2) else { return nil }
                var minutes: Int64 = 0
                var secs: Int64 = 0
                if expect(":") {
                    guard let m = number(2) else { return nil }
                    minutes = m
                    if expect(":") {
                        guard let s = number(2) else { return nil }
                        secs = s
                    }
                }
                offsetSeconds = sign * (hours * 3600 + minutes * 60 + secs)
            }
        }
        guard index == bytes.count, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(micros) / 1_000_000)
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
