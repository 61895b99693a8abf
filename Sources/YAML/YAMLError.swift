/// Why YAML text could not be parsed or a value did not have the wanted type.
///
/// `description` reads like `size.memory: must be an integer (line 4, column 11)`.
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad reason, for callers that react differently to each.
    public enum Kind: String, Sendable, Equatable {
        /// libyaml rejected the text.
        case syntax
        /// Input size, nesting depth, node count or alias expansion went over the parser's limits.
        case limitExceeded
        /// An alias names an anchor that was never defined, or the stream holds more than one document.
        case unsupported
        /// A typed read found a value of another type.
        case typeMismatch
    }

    public var kind: Kind
    /// What is wrong, without position (libyaml's problem text for syntax errors).
    public var message: String
    /// Dotted key path of the value (`size.memory`, `secrets[2]`), `nil` for syntax errors.
    public var path: String?
    public var mark: YAMLMark
    /// libyaml's context ("while parsing a block mapping") and where it started, when it gives one.
    public var context: String?
    public var contextMark: YAMLMark?

    public init(
        _ kind: Kind, _ message: String, path: String? = nil, at mark: YAMLMark,
        context: String? = nil, contextMark: YAMLMark? = nil
    ) {
        self.kind = kind
        self.message = message
        self.path = path
        self.mark = mark
        self.context = context
        self.contextMark = contextMark
    }

    public var line: Int { mark.line }
    public var column: Int { mark.column }

    public var description: String {
        var text = path.map { "\($0): \(message)" } ?? message
        if let context, let contextMark { text += " \(context) started at \(contextMark)" }
        return text + " (\(mark))"
    }
}
