/// Typed reads: `get...` returns `nil` for another type, `require...` throws an error naming the key path.
extension YAMLNode {
    /// The scalar, or `nil` for null, sequences and mappings.
    public var scalar: YAMLScalar? {
        if case .scalar(let scalar, _) = self { return scalar }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A scalar's text, whatever it looks like (`3000` and `true` included).
    public func getString() -> String? { scalar?.value }

    /// An integer written plainly (`3000`, `-1`, `1_000`, `0x1F`, `0o17`) or tagged `!!int`.
    public func getInt() -> Int? {
        guard let scalar, scalar.tag == nil ? !scalar.isQuoted : scalar.tag == "tag:yaml.org,2002:int" else { return nil }
        var text = Substring(scalar.value.filter { $0 != "_" })
        var negative = false
        if let sign = text.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            text = text.dropFirst()
        }
        let radix: Int
        if text.hasPrefix("0x") {
            radix = 16
            text = text.dropFirst(2)
        } else if text.hasPrefix("0o") {
            radix = 8
            text = text.dropFirst(2)
        } else {
            radix = 10
        }
        guard !text.isEmpty, text.allSatisfy({ $0.isHexDigit }), let magnitude = Int(text, radix: radix) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// A YAML 1.1 boolean: `true`/`false`, `yes`/`no`, `on`/`off` (lower, Capitalised or UPPER case).
    public func getBool() -> Bool? {
        guard let scalar, scalar.tag == nil ? !scalar.isQuoted : scalar.tag == "tag:yaml.org,2002:bool" else { return nil }
        let value = scalar.value
        guard value == value.lowercased() || value == value.uppercased() || value == value.prefix(1).uppercased() + value.dropFirst()
        else { return nil }
        switch value.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: return nil
        }
    }

    /// The items of a sequence, or `nil`.
    public func getSequence() -> [YAMLNode]? {
        if case .sequence(let items, _) = self { return items }
        return nil
    }

    /// The pairs of a mapping, or `nil`.
    public func getMapping() -> [(key: YAMLNode, value: YAMLNode)]? {
        if case .mapping(let pairs, _) = self { return pairs }
        return nil
    }

    /// The value of the first pair whose key is the scalar `key`, or `nil`.
    public subscript(key: String) -> YAMLNode? {
        getMapping()?.first { $0.key.getString() == key }?.value
    }

    /// A scalar's text; throws for null, sequences and mappings.
    public func requireString(path: String) throws(YAMLError) -> String {
        guard let value = getString() else { throw mismatch(path: path, wanted: "a string") }
        return value
    }

    /// An integer (see ``getInt()``); a quoted `"3000"` is a string and throws.
    public func requireInt(path: String) throws(YAMLError) -> Int {
        guard let value = getInt() else { throw mismatch(path: path, wanted: "an integer") }
        return value
    }

    /// A boolean (see ``getBool()``).
    public func requireBool(path: String) throws(YAMLError) -> Bool {
        guard let value = getBool() else { throw mismatch(path: path, wanted: "true or false") }
        return value
    }

    /// The items of a sequence; throws for anything else.
    public func requireSequence(path: String) throws(YAMLError) -> [YAMLNode] {
        guard let items = getSequence() else { throw mismatch(path: path, wanted: "a list") }
        return items
    }

    /// The pairs of a mapping with their keys as text; throws for anything else or for a key that is not a scalar.
    public func requireMapping(path: String) throws(YAMLError) -> [(key: String, keyNode: YAMLNode, value: YAMLNode)] {
        guard let pairs = getMapping() else { throw mismatch(path: path, wanted: "a mapping (key: value lines)") }
        var result: [(key: String, keyNode: YAMLNode, value: YAMLNode)] = []
        for pair in pairs {
            guard let key = pair.key.getString() else {
                throw YAMLError(.typeMismatch, "keys must be plain names, found a \(pair.key.kindName)", path: path, at: pair.key.mark)
            }
            result.append((key, pair.key, pair.value))
        }
        return result
    }

    /// A type error at this node that says what was found.
    public func mismatch(path: String, wanted: String) -> YAMLError {
        let found: String
        switch self {
        case .scalar(let scalar, _):
            found = scalar.isQuoted ? "the quoted string \"\(scalar.value)\"" : "`\(scalar.value)`"
        case .null: found = "nothing (null)"
        case .sequence: found = "a list"
        case .mapping: found = "a mapping"
        }
        return YAMLError(.typeMismatch, "must be \(wanted), found \(found)", path: path, at: mark)
    }
}
