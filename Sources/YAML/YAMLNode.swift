/// A position in YAML text, 1-based like an editor shows it.
public struct YAMLMark: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// `line 4, column 7`, the form every error message uses.
    public var description: String { "line \(line), column \(column)" }
}

/// How a scalar was written; quoted scalars are always strings, plain ones may be numbers or booleans.
public enum YAMLScalarStyle: String, Sendable, Equatable {
    case plain
    case singleQuoted = "single-quoted"
    case doubleQuoted = "double-quoted"
    case literal
    case folded
}

/// A scalar's text together with how it was written.
public struct YAMLScalar: Sendable, Equatable {
    /// The scalar's text after YAML unescaping and folding.
    public var value: String
    public var style: YAMLScalarStyle
    /// An explicit tag (`!!str` arrives as `tag:yaml.org,2002:str`), `nil` when none was written.
    public var tag: String?

    public init(_ value: String, style: YAMLScalarStyle = .plain, tag: String? = nil) {
        self.value = value
        self.style = style
        self.tag = tag
    }

    /// Whether the scalar was quoted or block-styled (so it is text, never a number or boolean).
    public var isQuoted: Bool { style != .plain }
}

/// One node of a parsed YAML document, with the position it started at.
///
/// Plain `~`, `null`, `Null`, `NULL` and empty scalars (and `!!null`) become ``null(at:)``; every
/// other scalar keeps its text, so `off` stays the string `off` until a typed read asks for a boolean.
public indirect enum YAMLNode: Sendable, CustomStringConvertible {
    case scalar(YAMLScalar, at: YAMLMark)
    case sequence([YAMLNode], at: YAMLMark)
    /// Key/value pairs in document order; duplicate keys are kept (callers decide whether that is an error).
    case mapping([(key: YAMLNode, value: YAMLNode)], at: YAMLMark)
    case null(at: YAMLMark)

    /// Where the node starts.
    public var mark: YAMLMark {
        switch self {
        case .scalar(_, let mark), .sequence(_, let mark), .mapping(_, let mark), .null(let mark): return mark
        }
    }

    /// 1-based line the node starts on.
    public var line: Int { mark.line }
    /// 1-based column the node starts at.
    public var column: Int { mark.column }

    /// `scalar`, `sequence`, `mapping` or `null`, for error messages.
    public var kindName: String {
        switch self {
        case .scalar: return "scalar"
        case .sequence: return "list"
        case .mapping: return "mapping"
        case .null: return "null"
        }
    }

    /// A short rendering for messages and debugging (not a YAML emitter).
    public var description: String {
        switch self {
        case .scalar(let scalar, _): return scalar.isQuoted ? "\"\(scalar.value)\"" : scalar.value
        case .sequence(let items, _): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .mapping(let pairs, _): return "{" + pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .null: return "null"
        }
    }
}

extension YAMLNode: Equatable {
    /// Structural equality that also compares positions.
    public static func == (lhs: YAMLNode, rhs: YAMLNode) -> Bool {
        switch (lhs, rhs) {
        case (.scalar(let a, let ma), .scalar(let b, let mb)): return a == b && ma == mb
        case (.sequence(let a, let ma), .sequence(let b, let mb)): return a == b && ma == mb
        case (.mapping(let a, let ma), .mapping(let b, let mb)):
            return ma == mb && a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.null(let ma), .null(let mb)): return ma == mb
        default: return false
        }
    }
}
