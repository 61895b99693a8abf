import YAML

/// The settings a repository writes in `.github/preview.yml` (or `.github/preview.yaml`); every key is optional.
///
/// ```yaml
/// mode: approval
/// root: apps/web
/// install: npm ci
/// build: npm run build
/// start: npm start
/// port: 3000
/// image: node:20
/// env: {NODE_ENV: production}
/// secrets: [DATABASE_URL]
/// size: {cpus: 1, memory: 512, cpu_kind: shared}
/// region: ams
/// auto_stop: suspend
/// ttl: 2h
/// ignore: ["docs/**", "*.md"]
/// ```
public struct RepositoryConfig: Sendable, Equatable {
    /// The paths previewd reads the file from, in order of preference.
    public static let paths = [".github/preview.yml", ".github/preview.yaml"]
    /// Every key the file may hold.
    public static let keys = [
        "mode", "root", "install", "build", "start", "port", "image", "env", "secrets", "size", "region", "auto_stop", "ttl", "ignore",
    ]
    static let sizeKeys = ["cpus", "memory", "cpu_kind"]

    /// The path the settings came from (for reasons and errors).
    public var path: String
    /// `auto` or `approval`.
    public var mode: String?
    /// Directory of the app inside the repository, normalised (`apps/web`, never `./apps/web/`).
    public var root: String?
    public var install: String?
    public var build: String?
    public var start: String?
    public var port: Int?
    public var image: String?
    public var environment: [String: String]?
    public var secretNames: [String]?
    public var cpus: Int?
    public var memoryMB: Int?
    /// `shared` or `performance`.
    public var cpuKind: String?
    public var region: String?
    /// `stop`, `suspend` or `off`.
    public var autoStop: String?
    public var ttlSeconds: Int?
    public var ignoredPaths: [String]?
    /// The line each top-level key was written on, for the plan's reasons.
    public var lines: [String: Int]

    public init(path: String = RepositoryConfig.paths[0]) {
        self.path = path
        self.lines = [:]
    }

    /// Parses and validates the file's text; an empty file is an empty configuration.
    public static func parse(_ text: String, path: String = RepositoryConfig.paths[0]) throws(PreviewConfigError) -> RepositoryConfig {
        let root: YAMLNode?
        do {
            root = try YAMLParser.parse(text)
        } catch {
            throw PreviewConfigError(path: path, error)
        }
        var config = RepositoryConfig(path: path)
        guard let root else { return config }
        var reader = Reader(path: path)
        try reader.read(root, into: &config)
        return config
    }
}

/// Why `.github/preview.yml` was rejected; `description` reads
/// `.github/preview.yml: port must be an integer between 1 and 65535 (line 4, column 7)`.
public struct PreviewConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `.github/preview.yml` or `.github/preview.yaml`.
    public var path: String
    public var line: Int
    public var column: Int
    /// What is wrong and how to fix it, without the position.
    public var message: String

    public init(path: String, line: Int, column: Int, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    init(path: String, _ error: YAMLError) {
        let message: String
        switch error.kind {
        case .syntax:
            var text = "is not valid YAML: \(error.message)"
            if let context = error.context, let mark = error.contextMark { text += " (\(context) at \(mark))" }
            message = text
        case .typeMismatch:
            message = error.path.map { "\($0) \(error.message)" } ?? error.message
        case .limitExceeded, .unsupported:
            message = error.message
        }
        self.init(path: path, line: error.line, column: error.column, message: message)
    }

    /// The message followed by the position, as the check run shows it (the path is shown separately there).
    public var positionedMessage: String { "\(message) (line \(line), column \(column))" }

    public var description: String { "\(path): \(positionedMessage)" }
}

/// Validation of each key; every failure names the key and where it is.
private struct Reader {
    let path: String

    func fail(_ node: YAMLNode, _ message: String) -> PreviewConfigError {
        PreviewConfigError(path: path, line: node.line, column: node.column, message: message)
    }

    func mapping(_ node: YAMLNode, key: String) throws(PreviewConfigError) -> [(key: String, keyNode: YAMLNode, value: YAMLNode)] {
        let pairs: [(key: String, keyNode: YAMLNode, value: YAMLNode)]
        do {
            pairs = try node.requireMapping(path: key)
        } catch {
            throw PreviewConfigError(path: path, error)
        }
        var seen: [String: Int] = [:]
        for pair in pairs {
            if let first = seen[pair.key] {
                throw fail(pair.keyNode, "\(key.isEmpty ? "" : key + ".")\(pair.key) is set twice (first on line \(first)); keep one")
            }
            seen[pair.key] = pair.keyNode.line
        }
        return pairs
    }

    func string(_ node: YAMLNode, key: String) throws(PreviewConfigError) -> String {
        guard let value = node.getString() else { throw fail(node, "\(key) must be a single value, not \(describe(node))") }
        let trimmed = value.trimmingWhitespace
        guard !trimmed.isEmpty else { throw fail(node, "\(key) must not be empty; remove the key to use the detected value") }
        return trimmed
    }

    func int(_ node: YAMLNode, key: String, in range: ClosedRange<Int>, what: String) throws(PreviewConfigError) -> Int {
        guard let value = node.getInt(), range.contains(value) else {
            throw fail(node, "\(key) must be \(what), found \(describe(node))")
        }
        return value
    }

    func oneOf(_ node: YAMLNode, key: String, _ allowed: [String]) throws(PreviewConfigError) -> String {
        guard let value = node.getString(), allowed.contains(value) else {
            throw fail(node, "\(key) must be one of \(allowed.joined(separator: ", ")), found \(describe(node))")
        }
        return value
    }

    func describe(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let scalar, _): return scalar.isQuoted ? "\"\(scalar.value)\"" : "`\(scalar.value)`"
        case .null: return "nothing"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    func unknownKey(_ keyNode: YAMLNode, _ key: String, scope: String, allowed: [String]) -> PreviewConfigError {
        var message = "unknown key `\(scope)\(key)`"
        // Swapped letters (`prot`) count as one edit and win ties, since they are the commonest typo.
        func score(_ candidate: String) -> Int { editDistance(candidate, key) * 2 - (candidate.sorted() == key.sorted() ? 1 : 0) }
        if let suggestion = allowed.min(by: { score($0) < score($1) }), editDistance(suggestion, key) <= 2 {
            message += "; did you mean `\(scope)\(suggestion)`?"
        }
        message += " Allowed keys: \(allowed.joined(separator: ", "))"
        return fail(keyNode, message)
    }

    mutating func read(_ root: YAMLNode, into config: inout RepositoryConfig) throws(PreviewConfigError) {
        guard case .mapping = root else {
            throw fail(root, "the file must be a mapping of settings (`port: 3000` lines), not \(describe(root))")
        }
        for (key, keyNode, value) in try mapping(root, key: "") {
            config.lines[key] = keyNode.line
            switch key {
            case "mode": config.mode = try oneOf(value, key: key, ["auto", "approval"])
            case "root": config.root = try rootPath(value)
            case "install": config.install = try string(value, key: key)
            case "build": config.build = try string(value, key: key)
            case "start": config.start = try string(value, key: key)
            case "port": config.port = try int(value, key: key, in: 1...65535, what: "an integer between 1 and 65535")
            case "image": config.image = try image(value)
            case "env": config.environment = try environment(value)
            case "secrets": config.secretNames = try secrets(value)
            case "size": try size(value, into: &config)
            case "region": config.region = try region(value)
            case "auto_stop": config.autoStop = try oneOf(value, key: key, ["stop", "suspend", "off"])
            case "ttl": config.ttlSeconds = try ttl(value)
            case "ignore": config.ignoredPaths = try ignore(value)
            default: throw unknownKey(keyNode, key, scope: "", allowed: RepositoryConfig.keys)
            }
        }
        if let env = config.environment, let secrets = config.secretNames, let both = secrets.first(where: { env[$0] != nil }) {
            throw PreviewConfigError(
                path: path, line: config.lines["secrets"] ?? 1, column: 1,
                message: "\(both) is listed both in env and in secrets; a variable is either plain or secret")
        }
    }

    func rootPath(_ node: YAMLNode) throws(PreviewConfigError) -> String {
        let raw = try string(node, key: "root")
        var parts = raw.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        parts.removeAll { $0 == "." }
        guard !raw.hasPrefix("/"), !parts.contains("..") else {
            throw fail(node, "root must be a directory inside the repository such as `apps/web` (no leading `/`, no `..`)")
        }
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    func image(_ node: YAMLNode) throws(PreviewConfigError) -> String {
        let value = try string(node, key: "image")
        guard !value.contains(where: { $0.isWhitespace }) else {
            throw fail(node, "image must be one image reference such as `node:20-bookworm`, found `\(value)`")
        }
        return value
    }

    func region(_ node: YAMLNode) throws(PreviewConfigError) -> String {
        let value = try string(node, key: "region")
        guard value.count <= 16, value.allSatisfy({ ($0.isASCII && $0.isLetter && $0.isLowercase) || $0.isNumber || $0 == "-" }) else {
            throw fail(node, "region must be a region code such as `ams` or `iad`, found `\(value)`")
        }
        return value
    }

    func environment(_ node: YAMLNode) throws(PreviewConfigError) -> [String: String] {
        var result: [String: String] = [:]
        for (name, keyNode, value) in try mapping(node, key: "env") {
            try checkVariableName(name, at: keyNode, key: "env")
            guard name != "PORT" else { throw fail(keyNode, "env.PORT is set by previewd from `port`; set `port: <number>` instead") }
            switch value {
            case .scalar(let scalar, _): result[name] = scalar.value
            default:
                throw fail(value, "env.\(name) must be a plain value (text, number or true/false), found \(describe(value)); quote \"\" for an empty value")
            }
        }
        return result
    }

    func secrets(_ node: YAMLNode) throws(PreviewConfigError) -> [String] {
        guard let items = node.getSequence() else {
            throw fail(node, "secrets must be a list of secret names such as [DATABASE_URL], found \(describe(node))")
        }
        var names: [String] = []
        for (index, item) in items.enumerated() {
            guard let name = item.getString() else {
                throw fail(item, "secrets[\(index)] must be a secret name, found \(describe(item)); values never go in this file")
            }
            try checkVariableName(name, at: item, key: "secrets[\(index)]")
            guard !names.contains(name) else { throw fail(item, "secret \(name) is listed twice") }
            names.append(name)
        }
        return names
    }

    func checkVariableName(_ name: String, at node: YAMLNode, key: String) throws(PreviewConfigError) {
        guard Self.isVariableName(name) else {
            throw fail(node, "\(key): `\(name)` is not a valid variable name; use capital letters, digits and _ (not starting with a digit), e.g. DATABASE_URL")
        }
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("A"..."Z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }

    func size(_ node: YAMLNode, into config: inout RepositoryConfig) throws(PreviewConfigError) {
        for (key, keyNode, value) in try mapping(node, key: "size") {
            switch key {
            case "cpus": config.cpus = try int(value, key: "size.cpus", in: 1...16, what: "an integer between 1 and 16")
            case "memory":
                let memory = try int(value, key: "size.memory", in: 256...16384, what: "megabytes between 256 and 16384")
                guard memory % 256 == 0 else {
                    let lower = memory / 256 * 256
                    throw fail(value, "size.memory must be a multiple of 256 megabytes (for example \(lower) or \(lower + 256)), found `\(memory)`")
                }
                config.memoryMB = memory
            case "cpu_kind": config.cpuKind = try oneOf(value, key: "size.cpu_kind", ["shared", "performance"])
            default: throw unknownKey(keyNode, key, scope: "size.", allowed: RepositoryConfig.sizeKeys)
            }
        }
    }

    func ttl(_ node: YAMLNode) throws(PreviewConfigError) -> Int {
        let range = 60...(30 * 86_400)
        let message = "ttl must be a duration between 1m and 30d such as `2h`, `45m`, `1d` or a number of seconds"
        if let seconds = node.getInt() {
            guard range.contains(seconds) else { throw fail(node, "\(message), found `\(seconds)`") }
            return seconds
        }
        guard let text = node.getString()?.trimmingWhitespace, let unit = text.last, let amount = Int(text.dropLast()), amount > 0 else {
            throw fail(node, "\(message), found \(describe(node))")
        }
        let multiplier: Int
        switch unit {
        case "s": multiplier = 1
        case "m": multiplier = 60
        case "h": multiplier = 3_600
        case "d": multiplier = 86_400
        default: throw fail(node, "\(message), found \(describe(node))")
        }
        let (seconds, overflow) = amount.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(seconds) else { throw fail(node, "\(message), found \(describe(node))") }
        return seconds
    }

    func ignore(_ node: YAMLNode) throws(PreviewConfigError) -> [String] {
        guard let items = node.getSequence() else {
            throw fail(node, "ignore must be a list of path patterns such as [\"docs/**\", \"*.md\"], found \(describe(node))")
        }
        var patterns: [String] = []
        for (index, item) in items.enumerated() {
            guard let pattern = item.getString()?.trimmingWhitespace, !pattern.isEmpty else {
                throw fail(item, "ignore[\(index)] must be a path pattern such as \"docs/**\", found \(describe(item))")
            }
            patterns.append(pattern)
        }
        return patterns
    }
}

/// Edit distance with adjacent transpositions (optimal string alignment), for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var beforePrevious: [Int] = []
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                current[j] = min(current[j], beforePrevious[j - 2] + 1)
            }
        }
        beforePrevious = previous
        previous = current
    }
    return previous[b.count]
}

extension StringProtocol {
    var trimmingWhitespace: String {
        guard let start = firstIndex(where: { !$0.isWhitespace }), let end = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[start...end])
    }
}
