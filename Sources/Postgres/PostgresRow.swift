import Foundation

/// One result row: each cell's text output plus the column names and type OIDs.
///
/// Rows are plain values, detached from the connection that produced them.
public struct PostgresRow: Sendable, CustomStringConvertible {
    let columns: PostgresColumns
    /// Text output per column, nil for SQL NULL.
    let cells: [String?]

    init(columns: PostgresColumns, cells: [String?]) {
        self.columns = columns
        self.cells = cells
    }

    /// Column names in result order.
    public var columnNames: [String] { columns.names }

    /// Number of columns.
    public var count: Int { cells.count }

    /// True when the named column holds SQL NULL.
    public func isNull(_ column: String) throws(PostgresError) -> Bool {
        cells[try index(of: column)] == nil
    }

    /// Decodes the named column as `T`; an Optional `T` reads NULL as nil.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        try decode(at: try index(of: column), as: type)
    }

    /// Decodes the column at `index` (0-based) as `T`; an Optional `T` reads NULL as nil.
    public func decode<T: PostgresDecodable>(at index: Int, as type: T.Type = T.self) throws(PostgresError) -> T {
        guard cells.indices.contains(index) else {
            throw .missingColumn("#\(index)")
        }
        let name = columns.names[index]
        guard let text = cells[index] else {
            guard let null = T.postgresNull else { throw .unexpectedNull(column: name, index: index) }
            return null
        }
        let oid = columns.typeOIDs[index]
        guard let value = T(postgresText: text, typeOID: oid) else {
            throw .decoding(column: name, index: index, wantedType: String(describing: T.self), actualType: PostgresTypeOID.name(of: oid))
        }
        return value
    }

    /// Decodes a `json`/`jsonb` (or text) column into any `Decodable` with `JSONDecoder`.
    public func decodeJSON<T: Decodable>(_ column: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        let index = try index(of: column)
        let json = try decode(at: index, as: PostgresJSON.self)
        do {
            return try JSONDecoder().decode(type, from: json.data)
        } catch {
            throw .decoding(
                column: columns.names[index], index: index, wantedType: String(describing: T.self),
                actualType: PostgresTypeOID.name(of: columns.typeOIDs[index]) + " (JSON did not match: \(error))"
            )
        }
    }

    /// Column names and type names, never the values (they may be secrets).
    public var description: String {
        let parts = columns.names.indices.map { "\(columns.names[$0]): \(PostgresTypeOID.name(of: columns.typeOIDs[$0]))" }
        return "PostgresRow(\(parts.joined(separator: ", ")))"
    }

    private func index(of column: String) throws(PostgresError) -> Int {
        guard let index = columns.indexByName[column] else { throw .missingColumn(column) }
        return index
    }
}

/// The column layout shared by every row of one result.
final class PostgresColumns: Sendable {
    let names: [String]
    let typeOIDs: [UInt32]
    let indexByName: [String: Int]

    init(names: [String], typeOIDs: [UInt32]) {
        self.names = names
        self.typeOIDs = typeOIDs
        var indexByName: [String: Int] = [:]
        // The first of several same-named columns wins, as in most drivers.
        for (index, name) in names.enumerated() where indexByName[name] == nil {
            indexByName[name] = index
        }
        self.indexByName = indexByName
    }
}
