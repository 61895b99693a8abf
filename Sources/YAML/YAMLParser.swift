internal import CYAML

/// Parses YAML text into ``YAMLNode`` values with libyaml's event API.
///
/// Only the first document is accepted: a stream with a second document (another `---`) is an error,
/// because in a settings file a stray `---` usually hides settings. Anchors and aliases are resolved by
/// copying the anchored node, within ``Configuration/maxAliasExpansion`` nodes in total, so a "billion
/// laughs" document fails fast instead of growing without bound. Merge keys (`<<`) are not interpreted.
public struct YAMLParser: Sendable {
    /// Limits that keep untrusted input (a repository's settings file) cheap to parse.
    public struct Configuration: Sendable, Equatable {
        /// Deepest nesting of sequences and mappings.
        public var maxDepth: Int
        /// Most nodes in the document, counting each alias expansion.
        public var maxNodes: Int
        /// Largest input in UTF-8 bytes.
        public var maxInputBytes: Int
        /// Most nodes that aliases may add by copying anchored nodes.
        public var maxAliasExpansion: Int

        public init(maxDepth: Int = 64, maxNodes: Int = 10_000, maxInputBytes: Int = 64 * 1024, maxAliasExpansion: Int = 1_000) {
            self.maxDepth = maxDepth
            self.maxNodes = maxNodes
            self.maxInputBytes = maxInputBytes
            self.maxAliasExpansion = maxAliasExpansion
        }
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Parses the first document of `text` with the default limits; `nil` for an empty stream.
    public static func parse(_ text: String) throws(YAMLError) -> YAMLNode? {
        try YAMLParser().parse(text)
    }

    /// Parses the first document of `text`; `nil` when the text holds no document (empty, or only comments).
    public func parse(_ text: String) throws(YAMLError) -> YAMLNode? {
        let bytes = Array(text.utf8)
        guard bytes.count <= configuration.maxInputBytes else {
            throw YAMLError(
                .limitExceeded, "the text is \(bytes.count) bytes; at most \(configuration.maxInputBytes) are accepted",
                at: YAMLMark(line: 1, column: 1))
        }
        guard !bytes.isEmpty else { return nil }
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            fatalError("libyaml could not initialise a parser (out of memory)")
        }
        defer { yaml_parser_delete(parser) }
        let result: Result<YAMLNode?, YAMLError> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(parser, buffer.baseAddress, buffer.count)
            return Result { () throws(YAMLError) -> YAMLNode? in try runEvents(parser) }
        }
        return try result.get()
    }

    /// Pulls events until the stream ends; `buffer` stays alive for the whole loop in the caller.
    private func runEvents(_ parser: UnsafeMutablePointer<yaml_parser_t>) throws(YAMLError) -> YAMLNode? {
        var builder = TreeBuilder(configuration: configuration)
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(parser, &event) == 1 else { throw Self.syntaxError(parser.pointee) }
            let outcome: Result<Bool, YAMLError> = Result { () throws(YAMLError) -> Bool in try builder.handle(event) }
            yaml_event_delete(&event)
            if try outcome.get() { return builder.root }
        }
    }

    /// Reads libyaml's problem and context right after a failed `yaml_parser_parse`.
    private static func syntaxError(_ parser: yaml_parser_t) -> YAMLError {
        let problem = parser.problem.map { String(cString: $0) } ?? "the text is not valid YAML"
        let context = parser.context.map { String(cString: $0) }
        return YAMLError(
            .syntax, problem, at: YAMLMark(parser.problem_mark),
            context: context, contextMark: context == nil ? nil : YAMLMark(parser.context_mark))
    }
}

extension YAMLMark {
    /// libyaml counts from 0.
    fileprivate init(_ mark: yaml_mark_t) {
        self.init(line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }
}

/// Turns the event stream into a tree, enforcing the limits as it goes.
private struct TreeBuilder {
    struct Frame {
        var isMapping: Bool
        var items: [YAMLNode] = []
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var pendingKey: YAMLNode?
        var mark: YAMLMark
        var anchor: String?
        var nodeCountAtStart: Int
    }

    let configuration: YAMLParser.Configuration
    var stack: [Frame] = []
    var anchors: [String: (node: YAMLNode, nodeCount: Int)] = [:]
    var nodeCount = 0
    var aliasNodes = 0
    var documents = 0
    var root: YAMLNode?

    init(configuration: YAMLParser.Configuration) {
        self.configuration = configuration
    }

    /// Handles one event; `true` once the stream has ended.
    mutating func handle(_ event: yaml_event_t) throws(YAMLError) -> Bool {
        let mark = YAMLMark(event.start_mark)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw YAMLError(.unsupported, "a second YAML document starts here (`---`); put all settings in one document", at: mark)
            }
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            guard let anchored = anchors[name] else {
                throw YAMLError(.unsupported, "alias *\(name) refers to an anchor that is not defined before it", at: mark)
            }
            aliasNodes += anchored.nodeCount
            guard aliasNodes <= configuration.maxAliasExpansion else {
                throw YAMLError(
                    .limitExceeded,
                    "aliases expand to more than \(configuration.maxAliasExpansion) nodes; write the values out instead of repeating anchors",
                    at: mark)
            }
            try count(anchored.nodeCount, at: mark)
            append(anchored.node)
        case YAML_SCALAR_EVENT:
            try count(1, at: mark)
            let scalar = event.data.scalar
            let text = scalar.value.map { String(decoding: UnsafeBufferPointer(start: $0, count: scalar.length), as: UTF8.self) } ?? ""
            let style = Self.style(scalar.style)
            let tag = Self.string(scalar.tag)
            let node: YAMLNode
            if tag == "tag:yaml.org,2002:null" || (tag == nil && style == .plain && ["", "~", "null", "Null", "NULL"].contains(text)) {
                node = .null(at: mark)
            } else {
                node = .scalar(YAMLScalar(text, style: style, tag: tag), at: mark)
            }
            if let anchor = Self.string(scalar.anchor) { anchors[anchor] = (node, 1) }
            append(node)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            guard stack.count < configuration.maxDepth else {
                throw YAMLError(.limitExceeded, "nesting is deeper than \(configuration.maxDepth) levels", at: mark)
            }
            try count(1, at: mark)
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let anchor = Self.string(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
            stack.append(Frame(isMapping: isMapping, mark: mark, anchor: anchor, nodeCountAtStart: nodeCount))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let frame = stack.popLast() else { return false }
            let node: YAMLNode = frame.isMapping ? .mapping(frame.pairs, at: frame.mark) : .sequence(frame.items, at: frame.mark)
            if let anchor = frame.anchor { anchors[anchor] = (node, nodeCount - frame.nodeCountAtStart + 1) }
            append(node)
        default:
            break
        }
        return false
    }

    private mutating func count(_ added: Int, at mark: YAMLMark) throws(YAMLError) {
        nodeCount += added
        guard nodeCount <= configuration.maxNodes else {
            throw YAMLError(.limitExceeded, "the document has more than \(configuration.maxNodes) nodes", at: mark)
        }
    }

    private mutating func append(_ node: YAMLNode) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        if !stack[top].isMapping {
            stack[top].items.append(node)
        } else if let key = stack[top].pendingKey {
            stack[top].pairs.append((key, node))
            stack[top].pendingKey = nil
        } else {
            stack[top].pendingKey = node
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func style(_ style: yaml_scalar_style_t) -> YAMLScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: return .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: return .literal
        case YAML_FOLDED_SCALAR_STYLE: return .folded
        default: return .plain
        }
    }
}
